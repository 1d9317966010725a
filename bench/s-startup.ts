// S: start-up. `vip-mgmt --version` and `--help` against bare `node -e 0` (goal: within 2x), and
// `config check` (the first thing every real command does: YAML + schema), each run alternately.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TARGET_BIN, median, ms, pct, printTable, timed } from './lib.ts';

export async function benchS(runs = 30): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vip-bench-s-'));
  try {
    const cfg = join(dir, 'config.yaml');
    await writeFile(cfg, 'dc: par1\nvip_prefixes: [192.0.2.0/24]\ndatacenters: { par1: { asn: 64512 } }\nservices: [{ name: svc.example.test, prefer: [par1] }]\nlog: { syslog: false }\n');
    const cases: [string, string[]][] = [
      ['node -e 0', [process.execPath, '-e', '0']],
      ['vip-mgmt --version', [process.execPath, TARGET_BIN, '--version']],
      ['vip-mgmt --help', [process.execPath, TARGET_BIN, '--help']],
      ['vip-mgmt config check --no-resolve', [process.execPath, TARGET_BIN, '-c', cfg, 'config', 'check', '--no-resolve']],
    ];
    const times = new Map<string, number[]>(cases.map(([n]) => [n, []]));
    for (const [, argv] of cases) await timed(argv); // warm the page cache
    for (let i = 0; i < runs; i++) {
      for (const [name, argv] of cases) {
        const r = await timed(argv);
        if (r.code !== 0) throw new Error(`${name} exited ${r.code}: ${r.stderr}`);
        times.get(name)!.push(r.ms);
      }
    }
    const base = median(times.get('node -e 0')!);
    printTable(
      `S. start-up, ${runs} runs each, interleaved (NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'})`,
      ['command', 'median', 'p95', 'x node -e 0'],
      cases.map(([name]) => {
        const xs = times.get(name)!;
        return [name, ms(median(xs)), ms(pct(xs, 95)), `${(median(xs) / base).toFixed(2)}x`];
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
