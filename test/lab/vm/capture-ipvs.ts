// Regenerates test/fixtures/ipvs/ from real IPVS tables built inside the lab VM (run by hand: node --import tsx test/lab/vm/capture-ipvs.ts).
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildVm, runInVm } from './index.js';

const dir = new URL('../../fixtures/ipvs/', import.meta.url).pathname;
const script = await readFile(join(dir, 'capture.sh'), 'utf8');
const image = await buildVm();
// The kernel's config tells capture.sh the CONFIG_HZ that /proc/net/ip_vs's jiffies are counted in.
const kernelConfig = join(image.modtree, '..', '..', '..', 'boot', `config-${image.kver}`);
const r = await runInVm(script, { timeoutMs: 180_000, env: { KERNEL_CONFIG: kernelConfig } });
try {
  if (r.code !== 0) throw new Error(`capture.sh exited ${r.code}:\n${r.output}`);
  const env = await readFile(join(r.outDir, 'environment'), 'utf8');
  const when = new Date().toISOString().slice(0, 10);
  for (const f of (await readdir(r.outDir)).filter((n) => n.endsWith('.cmds'))) {
    const name = f.slice(0, -'.cmds'.length);
    for (const ext of ['proc', 'save', 'list']) {
      await writeFile(join(dir, `${name}.${ext}`), await readFile(join(r.outDir, `${name}.${ext}`)));
    }
    const cmds = await readFile(join(r.outDir, f), 'utf8');
    const label = [
      `${name}: captured ${when} in the lab VM (test/lab/vm, qemu tcg) by test/lab/vm/capture-ipvs.ts running test/fixtures/ipvs/capture.sh`,
      env.trim(),
      `${name}.proc = cat /proc/net/ip_vs; ${name}.save = ipvsadm -S -n; ${name}.list = ipvsadm -L -n`,
      'built with (after ipvsadm -C):',
      ...cmds.trim().split('\n').filter(Boolean).map((l) => `  ${l}`),
    ];
    await writeFile(join(dir, `${name}.label`), `${label.join('\n')}\n`);
    console.log(`wrote ${name}.{proc,save,list,label}`);
  }
} finally {
  await r.cleanup();
}
