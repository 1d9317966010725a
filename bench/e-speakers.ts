// Bench E: announce 1000 VIPs through BIRD, ExaBGP and GoBGP, vip-mgmt's way (`vip-mgmt -a` of 1000 addresses: read, ONE batch, read back) against each speaker's own one-route-at-a-time way (BIRD: one include rewrite + birdc configure per route; exabgpcli announce route / gobgp global rib add, one after the other), same lab, same run; and the time until the router has all 1000.
import { createBirdSpeaker } from '../src/adapters/bird.ts';
import { createExabgpSpeaker } from '../src/adapters/exabgp.ts';
import { createGobgpSpeaker } from '../src/adapters/gobgp.ts';
import type { SpeakerChange } from '../src/core/types.ts';
import type { LbDaemonFactory } from '../test/lab/frr.ts';
import { birdFactory } from '../test/lab/speakers/bird.ts';
import { exabgpFactory } from '../test/lab/speakers/exabgp.ts';
import { gobgpFactory } from '../test/lab/speakers/gobgp.ts';
import { log, median, ms, must, printTable, qemuNow, vipMgmt, waitCount, withBenchLab } from './lib.ts';

const ASN = 64512;
const RULE = { base: 0, datacenters: 1 };
/** 198.18.0.0/15 (RFC 2544 benchmarking range), as bench A: room for 1000 VIPs. */
const vipsOf = (n: number) => Array.from({ length: n }, (_, i) => `198.18.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`);
const inBench = (p: string) => p.startsWith('198.18.') || p.startsWith('198.19.');

export interface EResult {
  kind: string;
  size: number;
  /** `vip-mgmt -a`: exit, and all routes at the router, from its start */
  batchMs: number[];
  batchRouterMs: number[];
  /** one route per speaker call */
  oneMs: number[];
  oneRouterMs: number[];
  /** GoBGP only: `vip-mgmt -a` with bgp.gobgp.apply: cli (the CLI, one run a route, one per CPU at once) */
  cliMs: number[];
  cliRouterMs: number[];
  noisy: number;
}

const KINDS: { kind: string; factory: LbDaemonFactory }[] = [
  { kind: 'bird', factory: birdFactory },
  { kind: 'exabgp', factory: exabgpFactory },
  { kind: 'gobgp', factory: gobgpFactory },
];

export async function benchE(opts: { size?: number; reps?: number; oneReps?: Record<string, number> } = {}): Promise<EResult[]> {
  const size = opts.size ?? 1000;
  const reps = opts.reps ?? 2;
  // ExaBGP's one-at-a-time way is ~0.2 s of Python per route: 1000 routes once is minutes already
  // BIRD's: every configure re-reads a growing include (up to 1000 routes), once is enough too
  const oneReps = { bird: 1, exabgp: 1, gobgp: reps, ...opts.oneReps };
  const vips = vipsOf(size);
  const results: EResult[] = [];
  // VIP_BENCH_SPEAKERS=gobgp: one of them (ExaBGP's one-at-a-time run alone takes minutes)
  const only = process.env.VIP_BENCH_SPEAKERS?.split(',');
  for (const { kind, factory } of KINDS.filter((k) => !only || only.includes(k.kind))) {
    log(`E: ${kind}: building the lab (the LB runs ${kind}, FRR router)`);
    await withBenchLab({ tag: `e-${kind}`, lb: { name: 'par1', asn: ASN, daemon: factory } }, async ({ lab, lb, config }) => {
      const bgp = lb.speaker.bgp as Record<string, any>;
      const cfg = await config({
        datacenters: { par1: ASN },
        vipPrefixes: ['198.18.0.0/15'],
        extra: { bgp: { ...bgp, verify_timeout: '60s', timeout: '60s' } },
      });
      const daemonOpts = { asn: ASN, prepend: RULE, timeoutMs: 60_000 };
      const speaker =
        kind === 'bird'
          ? createBirdSpeaker({ ...daemonOpts, daemon: bgp.bird })
          : kind === 'exabgp'
          ? createExabgpSpeaker({ ...daemonOpts, daemon: bgp.exabgp })
          : createGobgpSpeaker({ ...daemonOpts, daemon: { cli: bgp.gobgp.cli, api: { unix: String(bgp.gobgp.api).slice('unix://'.length) } } });
      const adds: SpeakerChange[] = vips.map((v) => ({ action: 'add', prefix: `${v}/32`, routeMap: 'VIP-RANK-0' }));
      const reset = async () => {
        await speaker.apply(ASN, adds.map((c) => ({ ...c, action: 'delete' })));
        await waitCount(lab, 4, inBench, (n) => n === 0, 120_000);
      };
      const r: EResult = { kind, size, batchMs: [], batchRouterMs: [], oneMs: [], oneRouterMs: [], cliMs: [], cliRouterMs: [], noisy: 0 };
      const timeRun = async (run: () => Promise<void>, into: number[], routerInto: number[]) => {
        if (qemuNow()) r.noisy++;
        const t0 = performance.now();
        const at = waitCount(lab, 4, inBench, (n) => n === size, 900_000).then(() => performance.now() - t0);
        await run();
        into.push(performance.now() - t0);
        routerInto.push(await at);
      };
      for (let i = 0; i < reps; i++) {
        await reset();
        await timeRun(
          async () => {
            const t = await vipMgmt(cfg, ['-a', ...vips], 900_000);
            must(t, `vip-mgmt -a of ${size} VIPs through ${kind}`);
          },
          r.batchMs,
          r.batchRouterMs,
        );
        log(`E: ${kind} vip-mgmt -a ${size}: ${ms(r.batchMs.at(-1)!)} (router ${ms(r.batchRouterMs.at(-1)!)})`);
      }
      if (kind === 'gobgp') {
        // the same run with the CLI for apply, rounds interleaved with nothing else in between
        const cliCfg = await config({
          datacenters: { par1: ASN },
          vipPrefixes: ['198.18.0.0/15'],
          extra: { bgp: { ...bgp, gobgp: { ...bgp.gobgp, apply: 'cli' }, verify_timeout: '60s', timeout: '60s' } },
        });
        for (let i = 0; i < reps; i++) {
          await reset();
          await timeRun(async () => must(await vipMgmt(cliCfg, ['-a', ...vips], 900_000), `vip-mgmt -a of ${size} VIPs through gobgp (apply: cli)`), r.cliMs, r.cliRouterMs);
          log(`E: gobgp vip-mgmt -a ${size} with bgp.gobgp.apply: cli: ${ms(r.cliMs.at(-1)!)} (router ${ms(r.cliRouterMs.at(-1)!)})`);
        }
      }
      for (let i = 0; i < oneReps[kind as 'bird' | 'exabgp' | 'gobgp']; i++) {
        await reset();
        await timeRun(() => speaker.applyOneByOne(ASN, adds), r.oneMs, r.oneRouterMs);
        log(`E: ${kind} one route per call, ${size}: ${ms(r.oneMs.at(-1)!)} (router ${ms(r.oneRouterMs.at(-1)!)})`);
      }
      results.push(r);
    });
  }
  printTable(
    `E. Announce ${size} VIPs through BIRD 2.0.12 / ExaBGP 4.2 / GoBGP 3.10: vip-mgmt -a (whole run: read, one batch, read back) vs the speaker's one-route-at-a-time way`,
    ['speaker', 'vip-mgmt -a (median)', 'routes at router', 'one route per call (median)', 'routes at router', 'runs (batch/one)', 'vip-mgmt faster by'],
    results.map((x) => [
      x.kind,
      ms(median(x.batchMs)),
      ms(median(x.batchRouterMs)),
      ms(median(x.oneMs)),
      ms(median(x.oneRouterMs)),
      `${x.batchMs.length}/${x.oneMs.length}${x.noisy ? `, ${x.noisy} with qemu` : ''}`,
      `${(median(x.oneMs) / median(x.batchMs)).toFixed(1)}x (router: ${(median(x.oneRouterMs) / median(x.batchRouterMs)).toFixed(1)}x)`,
    ]),
  );
  const g = results.find((x) => x.kind === 'gobgp' && x.cliMs.length > 0);
  if (g) {
    printTable(
      `E, GoBGP: vip-mgmt -a of ${size} VIPs with bgp.gobgp.apply: grpc (one AddPathStream call) vs cli (one gobgp run a route, one per CPU at once) vs one gobgp run a route, one after the other`,
      ['apply', 'vip-mgmt -a (median)', 'routes at router', 'runs', 'grpc faster by'],
      [
        ['grpc (default)', ms(median(g.batchMs)), ms(median(g.batchRouterMs)), String(g.batchMs.length), '-'],
        ['cli', ms(median(g.cliMs)), ms(median(g.cliRouterMs)), String(g.cliMs.length), `${(median(g.cliMs) / median(g.batchMs)).toFixed(1)}x (router ${(median(g.cliRouterMs) / median(g.batchRouterMs)).toFixed(1)}x)`],
        ['one gobgp run a route, in a row (no vip-mgmt)', ms(median(g.oneMs)), ms(median(g.oneRouterMs)), String(g.oneMs.length), `${(median(g.oneMs) / median(g.batchMs)).toFixed(1)}x (router ${(median(g.oneRouterMs) / median(g.batchRouterMs)).toFixed(1)}x)`],
      ],
    );
  }
  return results;
}
