// Bench B: end-to-end `vip-mgmt -d NAME` (5 VIPs: 3 A + 2 AAAA from dnsmasq), Node start included, alternating with -a,
// against the baseline of the goal: bare `node -e 0` plus one `vtysh -N PATHSPACE -c 'show version'`, timed in the same rounds.
import { TARGET_BIN, log, withBenchLab, max, median, ms, must, pct, printTable, quietStat, sample, timed, vipMgmt, type Sample } from './lib.ts';

const NAME = 'www.bench.example.test';
const VIPS = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::1', '2001:db8::2'];
const PREFIXES = ['192.0.2.1/32', '192.0.2.2/32', '192.0.2.3/32', '2001:db8::1/128', '2001:db8::2/128'];

export interface BResult {
  deleteMs: Sample[];
  addMs: Sample[];
  nodeMs: Sample[];
  versionMs: Sample[];
  netnsNodeMs: Sample[];
  vtyshMs: Sample[];
  /** per round: -d / (node -e 0 + vtysh show version) of the same round */
  ratios: number[];
}

export async function benchB(opts: { runs?: number } = {}): Promise<BResult> {
  const runs = opts.runs ?? 25;
  log(`B: building the lab (1 LB + router, dnsmasq with ${NAME} -> 3 A + 2 AAAA)`);
  const r: BResult = { deleteMs: [], addMs: [], nodeMs: [], versionMs: [], netnsNodeMs: [], vtyshMs: [], ratios: [] };
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
      // the baseline, in the same round: bare Node start and one vtysh process
      const [, ns] = await sample(() => timed([process.execPath, '-e', '0']));
      const [v, vs] = await sample(() => timed(['vtysh', '-N', lb.pathspace, '-c', 'show version']));
      must(v, 'vtysh show version');
      r.nodeMs.push(ns);
      r.vtyshMs.push(vs);
      r.ratios.push(ds.ms / (ns.ms + vs.ms));
    }
    for (const p of PREFIXES) await lab.waitRoute(p, (x) => x?.best != null);
    if ((await routerHas()) !== PREFIXES.length) throw new Error('router lost routes');
    for (let i = 0; i < runs; i++) {
      r.netnsNodeMs.push((await sample(() => timed(['ip', 'netns', 'exec', lb.ns, process.execPath, '-e', '0'])))[1]);
      r.versionMs.push((await sample(() => timed([process.execPath, TARGET_BIN, '--version'])))[1]);
    }
    log(`B: -d median ${quietStat(r.deleteMs, median)}, -a median ${quietStat(r.addMs, median)}, -d / (node + vtysh) median ${median(r.ratios).toFixed(2)}x`);
  });
  printB(r);
  return r;
}

export function printB(r: BResult): void {
  const row = (what: string, xs: Sample[]) => [what, xs.length, quietStat(xs, median), quietStat(xs, (v) => pct(v, 95)), ms(max(xs.map((x) => x.ms)))];
  printTable('B. End to end, Node start included (`node bin/vip-mgmt -c CONFIG ...`, dnsmasq on 127.0.0.1); "quiet": runs with no qemu before or after', ['command', 'runs', 'median', 'p95', 'max'], [
    row(`vip-mgmt -d ${NAME} (5 VIPs)`, r.deleteMs),
    row(`vip-mgmt -a ${NAME} (5 VIPs)`, r.addMs),
    row('vip-mgmt --version (Node start + loading the CLI)', r.versionMs),
    row('node -e 0 (baseline, same rounds)', r.nodeMs),
    row(`vtysh -N PATHSPACE -c 'show version' (baseline, same rounds)`, r.vtyshMs),
    row('ip netns exec LB node -e 0', r.netnsNodeMs),
  ]);
  const base = median(r.nodeMs.map((x) => x.ms)) + median(r.vtyshMs.map((x) => x.ms));
  printTable('B. goal: -d <= 2.0x (node -e 0 + one vtysh), each ratio from one round', ['measure', 'value'], [
    ['median of per-round ratios -d / (node + vtysh)', `${median(r.ratios).toFixed(2)}x`],
    ['p95 of per-round ratios', `${pct(r.ratios, 95).toFixed(2)}x`],
    ['ratio of medians', `${(median(r.deleteMs.map((x) => x.ms)) / base).toFixed(2)}x (${ms(median(r.deleteMs.map((x) => x.ms)))} / ${ms(base)})`],
  ]);
}
