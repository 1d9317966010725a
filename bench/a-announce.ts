// Bench A: announce N VIPs in one `vip-mgmt -a` run versus the original tool's one vtysh process per route.
import { addLoAddresses, qemuNow, log, median, ms, must, printTable, timed, vipMgmt, waitCount, withBenchLab, withdrawAll } from './lib.ts';

const ASN = 64512;
/** 198.18.0.0/15 (RFC 2544 benchmarking range): room for the 1000 VIPs that 192.0.2.0/24 lacks. */
function vipsOf(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `198.18.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`);
}
const inBench = (p: string) => p.startsWith('198.18.') || p.startsWith('198.19.');

export interface AResult {
  size: number;
  vipMgmtMs: number[];
  originalMs: number[];
  routesAfterVipMgmt: number[];
  routesAfterOriginal: number[];
  /** repetitions with qemu running at some point */
  noisy: number;
}

export async function benchA(opts: { sizes?: number[]; reps?: number } = {}): Promise<AResult[]> {
  const sizes = opts.sizes ?? [1, 100, 1000];
  const reps = opts.reps ?? 3;
  const all = vipsOf(Math.max(...sizes));
  log(`A: building the lab (1 LB + router, ${all.length} VIPs on the LB's lo)`);
  const results: AResult[] = [];
  await withBenchLab({ tag: 'a', lb: { name: 'par1', asn: ASN } }, async ({ dir, lab, lb, config }) => {
    await addLoAddresses(lb.ns, dir, all);
    const cfg = await config({
      datacenters: { par1: ASN },
      vipPrefixes: ['198.18.0.0/15'],
      extra: { bgp: { speaker: 'frr', vtysh: 'vtysh', pathspace: lb.pathspace, verify_timeout: '30s', timeout: '60s' } },
    });
    const reset = async () => {
      await withdrawAll(lb, ASN, all.map((a) => `${a}/32`));
      await waitCount(lab, 4, inBench, (n) => n === 0);
    };
    for (const size of sizes) {
      const vips = all.slice(0, size);
      const r: AResult = { size, vipMgmtMs: [], originalMs: [], routesAfterVipMgmt: [], routesAfterOriginal: [], noisy: 0 };
      for (let rep = 0; rep < reps; rep++) {
        // vip-mgmt: one process, every VIP as a NAME argument
        await reset();
        let noisy = qemuNow();
        const run = await vipMgmt(cfg, ['-a', ...vips], 300_000);
        must(run, `vip-mgmt -a (${size} VIPs)`);
        r.vipMgmtMs.push(run.ms);
        r.routesAfterVipMgmt.push(await waitCount(lab, 4, inBench, (n) => n >= size));
        // the original tool: one vtysh process per route, one after the other
        await reset();
        noisy ||= qemuNow();
        const t0 = performance.now();
        for (const v of vips) {
          const o = await timed(['vtysh', '-N', lb.pathspace, '-c', 'conf t', '-c', `router bgp ${ASN}`, '-c', `network ${v}/32 route-map VIP-RANK-0`]);
          must(o, `vtysh network ${v}/32`);
        }
        r.originalMs.push(performance.now() - t0);
        if (noisy || qemuNow()) r.noisy++;
        r.routesAfterOriginal.push(await waitCount(lab, 4, inBench, (n) => n >= size));
        log(`A: ${size} VIPs rep ${rep + 1}/${reps}: vip-mgmt ${ms(r.vipMgmtMs.at(-1)!)}, original ${ms(r.originalMs.at(-1)!)}`);
      }
      results.push(r);
    }
    await reset();
  });
  printA(results);
  return results;
}

export function printA(results: AResult[]): void {
  printTable(
    'A. Announce N VIPs: one `vip-mgmt -a` run (Node start, plan, one vtysh, read-back and BGP-table verify) vs one `vtysh` per route',
    ['VIPs', 'runs (with qemu)', 'vip-mgmt -a (median)', 'original (median)', 'speed-up', 'routes on router after each (vip-mgmt / original)'],
    results.map((r) => [
      r.size,
      `${r.vipMgmtMs.length} (${r.noisy})`,
      ms(median(r.vipMgmtMs)),
      ms(median(r.originalMs)),
      `${(median(r.originalMs) / median(r.vipMgmtMs)).toFixed(median(r.originalMs) < median(r.vipMgmtMs) ? 2 : 1)}x`,
      `${[...new Set(r.routesAfterVipMgmt)].join(',')} / ${[...new Set(r.routesAfterOriginal)].join(',')}`,
    ]),
  );
}
