// Bench B: end-to-end `vip-mgmt -d NAME` (4 VIPs: 2 A + 2 AAAA from dnsmasq), Node start included, alternating with -a.
import { TARGET_BIN, log, withBenchLab, max, median, ms, must, pct, printTable, quietStat, sample, timed, vipMgmt, type Sample } from './lib.ts';

const NAME = 'www.bench.example.test';
const VIPS = ['192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2'];
const PREFIXES = ['192.0.2.1/32', '192.0.2.2/32', '2001:db8::1/128', '2001:db8::2/128'];

export interface BResult {
  deleteMs: Sample[];
  addMs: Sample[];
  nodeMs: Sample[];
  versionMs: Sample[];
  netnsNodeMs: Sample[];
}

export async function benchB(opts: { runs?: number } = {}): Promise<BResult> {
  const runs = opts.runs ?? 25;
  log(`B: building the lab (1 LB + router, dnsmasq with ${NAME} -> 2 A + 2 AAAA)`);
  const r: BResult = { deleteMs: [], addMs: [], nodeMs: [], versionMs: [], netnsNodeMs: [] };
  const lbSpec = { name: 'par1', asn: 64512, vips: VIPS, networks: PREFIXES.map((p): [string, string] => [p, 'VIP-RANK-0']) };
  await withBenchLab({ tag: 'b', lb: lbSpec, hosts: [[NAME, ...VIPS]], ttl: 30 }, async ({ lab, lb, config }) => {
    const cfg = await config({ services: [{ name: NAME, prefer: ['par1', 'lon1'] }] });
    for (const p of PREFIXES) await lab.waitRoute(p, (x) => x?.best != null);
    const routerHas = async () => (await Promise.all(PREFIXES.map((p) => lab.routerRoute(p)))).filter((x) => x !== null).length;
    // one untimed round first: page cache, JIT caches, dnsmasq warm
    must(await vipMgmt(cfg, ['-d', NAME]), '-d (warm-up)');
    must(await vipMgmt(cfg, ['-a', NAME]), '-a (warm-up)');
    for (let i = 0; i < runs; i++) {
      for (const p of PREFIXES) await lab.waitRoute(p, (x) => x?.best != null);
      const [d, ds] = await sample(() => vipMgmt(cfg, ['-d', NAME, '--reason', 'bench']));
      must(d, '-d');
      r.deleteMs.push(ds);
      for (const p of PREFIXES) await lab.waitRoute(p, (x) => x === null);
      const [a, as] = await sample(() => vipMgmt(cfg, ['-a', NAME]));
      must(a, '-a');
      r.addMs.push(as);
    }
    for (const p of PREFIXES) await lab.waitRoute(p, (x) => x?.best != null);
    if ((await routerHas()) !== 4) throw new Error('router lost routes');
    for (let i = 0; i < runs; i++) {
      r.nodeMs.push((await sample(() => timed([process.execPath, '-e', '0'])))[1]);
      r.netnsNodeMs.push((await sample(() => timed(['ip', 'netns', 'exec', lb.ns, process.execPath, '-e', '0'])))[1]);
      r.versionMs.push((await sample(() => timed([process.execPath, TARGET_BIN, '--version'])))[1]);
    }
    log(`B: -d median ${quietStat(r.deleteMs, median)}, -a median ${quietStat(r.addMs, median)}`);
  });
  printB(r);
  return r;
}

export function printB(r: BResult): void {
  const row = (what: string, xs: Sample[]) => [what, xs.length, quietStat(xs, median), quietStat(xs, (v) => pct(v, 95)), ms(max(xs.map((x) => x.ms)))];
  printTable('B. End to end, Node start included (`node bin/vip-mgmt -c CONFIG ...`, dnsmasq on 127.0.0.1); "quiet": runs with no qemu before or after', ['command', 'runs', 'median', 'p95', 'max'], [
    row(`vip-mgmt -d ${NAME} (4 VIPs)`, r.deleteMs),
    row(`vip-mgmt -a ${NAME} (4 VIPs)`, r.addMs),
    row('vip-mgmt --version (Node start + loading the CLI)', r.versionMs),
    row('node -e 0', r.nodeMs),
    row('ip netns exec LB node -e 0', r.netnsNodeMs),
  ]);
}
