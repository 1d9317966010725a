// `npm run demo`: a ready-made lab (FRR lb + router in namespaces, dnsmasq), a drain and a restore, the router's table before and after.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBgpLab, type BgpLab } from './frr.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { labConfig, runCli, writeConfig, type CliResult } from './cli.ts';

const NAME = 'www.shop.example.test';
const VIPS = ['192.0.2.10', '192.0.2.11', '2001:db8::10'];

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`==> ${s}`)}`);

async function routerTable(lab: BgpLab): Promise<void> {
  const [v4, v6] = await Promise.all([
    lab.router.vtysh(['show bgp ipv4 unicast']),
    lab.router.vtysh(['show bgp ipv6 unicast']),
  ]);
  const keep = (t: string) =>
    t
      .split('\n')
      .filter((l) => /^\s*(\*|Network)|No BGP prefixes|^\s{5,}\d/.test(l))
      .join('\n') || '   (no routes)';
  console.log(`router# show bgp ipv4 unicast\n${keep(v4)}\nrouter# show bgp ipv6 unicast\n${keep(v6)}`);
}

function show(cmd: string, r: CliResult): void {
  console.log(`$ vip-mgmt ${cmd}    (exit ${r.code}, ${Math.round(r.ms)} ms)`);
  if (r.stdout.trim()) console.log(r.stdout.trimEnd());
  if (r.stderr.trim()) console.log(r.stderr.trimEnd().replace(/^/gm, '  stderr| '));
}

let lab: BgpLab | undefined;
let dns: LabDns | undefined;
const dir = await mkdtemp(join(tmpdir(), 'vip-demo-'));
try {
  step('building the lab: FRR "par1" load balancer + FRR router in network namespaces, dnsmasq on 127.0.0.1');
  dns = await startDnsmasq({
    records: { cname: [[NAME, 'lb.shop.example.test']], hosts: [['lb.shop.example.test', ...VIPS]] },
    ttl: 60,
  });
  lab = await createBgpLab({
    lbs: [{ name: 'par1', asn: 64512, vips: VIPS, networks: [] }],
    router: { asn: 65000 },
  });
  const cfg = await writeConfig(
    dir,
    labConfig({
      dc: 'par1',
      pathspace: lab.lbs.par1!.pathspace,
      dnsPort: dns.port,
      stateDir: join(dir, 'state'),
      datacenters: { par1: 64512, lon1: 64513 },
      services: [{ name: NAME, prefer: ['lon1', 'par1'] }],
    }),
  );
  console.log(`config: ${cfg}\n${NAME} -> CNAME lb.shop.example.test -> ${VIPS.join(', ')}; par1 is ranked 2nd, so it prepends its AS once`);
  const cli = (...args: string[]) => runCli(['-c', cfg, ...args]);

  step(`announce: vip-mgmt -a ${NAME}`);
  show(`-a ${NAME}`, await cli('-a', NAME));
  for (const v of VIPS) await lab.waitRoute(`${v}/${v.includes(':') ? 128 : 32}`, (r) => r?.best != null);
  await routerTable(lab);

  step(`drain this DC: vip-mgmt -d ${NAME} --reason "kernel upgrade"`);
  show(`-d ${NAME} --reason "kernel upgrade"`, await cli('-d', NAME, '--reason', 'kernel upgrade'));
  for (const v of VIPS) await lab.waitRoute(`${v}/${v.includes(':') ? 128 : 32}`, (r) => r === null);
  await routerTable(lab);
  show('status', await cli('status'));

  step(`restore: vip-mgmt -a ${NAME}`);
  show(`-a ${NAME}`, await cli('-a', NAME));
  for (const v of VIPS) await lab.waitRoute(`${v}/${v.includes(':') ? 128 : 32}`, (r) => r?.best != null);
  await routerTable(lab);
  show('status', await cli('status'));

  step('tearing the lab down');
} catch (e) {
  console.error(`demo failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
} finally {
  await lab?.destroy();
  await dns?.stop();
  await rm(dir, { recursive: true, force: true });
}
