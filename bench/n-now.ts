// Bench N: `vip-mgmt watchdog --now` to a `watchdog --every 60s` daemon; time from the IPVS table change (atomic rename)
// and the --now spawn to the route leaving the router, against a plain `vip-mgmt watchdog` run by hand in the same run.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IpvsService, IpvsTable } from '../src/core/ipvs.ts';
import { benchTable, formatProcIpVs } from './gen-ipvs.ts';
import { TARGET_BIN, log, max, median, ms, must, pct, printTable, qemuNow, quietStat, spawnDaemon, timed, vipMgmt, withBenchLab, type Sample, type Timed } from './lib.ts';

const ASN = 64512;
const NAME = 'now.bench.example.test';
/** Outside every VIP of benchTable (it uses 192.0.2.0-255 and 203.0.113.0-193). */
const VIP = '203.0.113.251';
const PREFIX = `${VIP}/32`;
const PERIOD = '60s';

/** The watched VIP: port 80 whose last live real is `weight` (the other at 0), as keepalived leaves it. */
function target(weight: number): IpvsService[] {
  const real = (address: string, w: number) => ({ address, port: 80, forward: 'route', weight: w, active: 3, inactive: 10 });
  return [{ kind: 'tcp', vip: VIP, port: 80, fwmark: null, scheduler: 'wrr', persistent: null, flags: [], reals: [real('198.51.100.101', weight), real('198.51.100.102', 0)] }];
}

export interface NTrial {
  /** --now spawned -> route gone at the router */
  nowMs: number;
  /** the last poll that still saw the route (the true moment lies between this and nowMs) */
  lastSeenMs: number;
  /** the --now process, spawn to exit */
  clientMs: number;
  /** --now spawned -> the daemon's cycle starts (its "running a cycle now" line) */
  toCycleMs: number;
  /** cycle start -> its change line (DNS cache, lock, state, IPVS, vtysh read, plan, state written) */
  decideMs: number;
  /** --now spawned -> route back (restore, rise 1) */
  restoreMs: number;
  /** baseline: plain `vip-mgmt watchdog` spawned -> route gone */
  plainMs: number;
  /** baseline: bare `node -e 0` */
  nodeMs: number;
  noisy: boolean;
}

export interface NResult {
  variant: string;
  trials: NTrial[];
}

export async function benchN(opts: { trials?: number; variants?: ('small' | 'big')[] } = {}): Promise<NResult[]> {
  const results: NResult[] = [];
  for (const variant of opts.variants ?? ['small', 'big']) {
    const background = variant === 'big' ? benchTable({ services: 10_000, reals: 8 }).services : [];
    const trials = opts.trials ?? (variant === 'big' ? 10 : 20);
    results.push({ variant: variant === 'big' ? `10,000 other services x 8 reals + the VIP's` : `the VIP's service only`, trials: await runVariant(background, trials) });
  }
  printN(results);
  return results;
}

/** The daemon's JSON log lines (VIP_MGMT_LOG_FORMAT=json, -v) written at or after `since` (epoch ms). */
function linesSince(output: string, since: number): { time: number; msg: string }[] {
  const out: { time: number; msg: string }[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { time?: string | number; msg?: string };
      const time = typeof j.time === 'string' ? Date.parse(j.time) : j.time; // ISO text (ms precision)
      if (typeof time === 'number' && time >= since && typeof j.msg === 'string') out.push({ time, msg: j.msg });
    } catch {
      /* a line cut by the 50 KB window */
    }
  }
  return out;
}

async function runVariant(background: IpvsService[], trials: number): Promise<NTrial[]> {
  const up = formatProcIpVs({ services: [...background, ...target(10)], warnings: [], malformed: [] } satisfies IpvsTable);
  const down = formatProcIpVs({ services: [...background, ...target(0)], warnings: [], malformed: [] } satisfies IpvsTable);
  log(`N: ${background.length + 1} services in the table; building the lab`);
  const out: NTrial[] = [];
  const lbSpec = { name: 'par1', asn: ASN, vips: [VIP], networks: [[PREFIX, 'VIP-RANK-0']] as [string, string][] };
  await withBenchLab({ tag: 'n', lb: lbSpec, hosts: [[NAME, VIP]], ttl: 300 }, async ({ dir, lab, config }) => {
    const tablePath = join(dir, 'ip_vs');
    // write + rename: a reader never sees a half-written table
    const install = async (text: string) => {
      const tmp = `${tablePath}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, tablePath);
    };
    await install(up);
    const cfg = await config({
      vipPrefixes: ['203.0.113.0/24'],
      services: [{ name: NAME, prefer: ['par1', 'lon1'] }],
      // fall 1 / rise 1: one --now is one cycle, and N times one reaction; under the default fall 2 one
      // --now only counts the first unhealthy cycle (a second --now, or the next period, withdraws)
      extra: { watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: tablePath } } },
    });
    // Poll the router (one vtysh json call per poll, ~20 ms apart) until pred holds; times from t0.
    const until = async (t0: number, pred: (present: boolean) => boolean, what: () => string): Promise<{ at: number; lastOther: number }> => {
      let lastOther = 0;
      for (;;) {
        const present = (await lab.routerRoute(PREFIX)) !== null;
        const now = performance.now() - t0;
        if (pred(present)) return { at: now, lastOther };
        lastOther = now;
        if (now > 20_000) throw new Error(`router: ${PREFIX} did not change within 20 s\n${what().slice(-3000)}`);
        await sleep(20);
      }
    };
    let daemon: ReturnType<typeof spawnDaemon> | null = null;
    try {
      await lab.waitRoute(PREFIX, (r) => r?.best != null);
      daemon = spawnDaemon([process.execPath, TARGET_BIN, '-c', cfg, 'watchdog', '--every', PERIOD, '-v'], { VIP_MGMT_LOG_FORMAT: 'json' });
      await sleep(3000); // its first cycle (at once) is done; the next periodic one is ~60 s away
      if (daemon.child.exitCode !== null) throw new Error(`watchdog daemon exited: ${daemon.output()}`);
      const d = daemon;
      // warm-up: page cache, dnsmasq, the daemon's JIT
      for (const table of [down, up]) {
        await install(table);
        must(await vipMgmt(cfg, ['watchdog', '--now']), 'watchdog --now (warm-up)');
        await sleep(1000);
      }
      await lab.waitRoute(PREFIX, (r) => r?.best != null);
      for (let i = 0; i < trials; i++) {
        const noisyBefore = qemuNow();
        // --now: withdraw
        await sleep(300 + Math.random() * 400); // the daemon's read-back of the last change is over
        await install(down);
        const wall = Date.now();
        const t0 = performance.now();
        const client = vipMgmt(cfg, ['watchdog', '--now']);
        const w = await until(t0, (p) => !p, d.output);
        const c = await client;
        must(c, 'watchdog --now');
        if (!/signalled: it runs a cycle now/.test(c.stdout)) throw new Error(`--now did not find the daemon: ${c.stdout}${c.stderr}`);
        await sleep(300);
        const lines = linesSince(d.output(), wall - 5);
        const start = lines.find((l) => l.msg.startsWith('running a cycle now'));
        const change = lines.find((l) => / > delete route$/.test(l.msg));
        if (!start || !change) throw new Error(`no cycle/change line in the daemon's log after the --now:\n${d.output().slice(-3000)}`);
        // --now: restore
        await sleep(300 + Math.random() * 400);
        await install(up);
        const t1 = performance.now();
        const back = vipMgmt(cfg, ['watchdog', '--now']);
        const r = await until(t1, (p) => p, d.output);
        must(await back, 'watchdog --now (restore)');
        // baseline: the same change seen by a plain one-shot `vip-mgmt watchdog` (what cron runs)
        let plainMs = NaN;
        for (let attempt = 0; attempt < 3 && Number.isNaN(plainMs); attempt++) {
          await sleep(300 + Math.random() * 400);
          await install(down);
          const t2 = performance.now();
          let done: Timed | null = null;
          const plain = vipMgmt(cfg, ['watchdog']).then((x) => (done = x));
          // stop polling early if it found the lock busy: the daemon's periodic cycle held it
          const p = await until(t2, (present) => !present || done?.code === 75, d.output);
          const pr = await plain;
          if (pr.code === 75) {
            await install(up);
            must(await vipMgmt(cfg, ['watchdog', '--now']), 'watchdog --now (after a busy lock)');
            await lab.waitRoute(PREFIX, (x) => x?.best != null);
            continue;
          }
          must(pr, 'watchdog (plain)');
          plainMs = p.at;
        }
        await install(up);
        must(await vipMgmt(cfg, ['watchdog', '--now']), 'watchdog --now (restore after the plain run)');
        await lab.waitRoute(PREFIX, (x) => x?.best != null);
        const node = await timed([process.execPath, '-e', '0']);
        const trial: NTrial = {
          nowMs: w.at,
          lastSeenMs: w.lastOther,
          clientMs: c.ms,
          toCycleMs: start.time - wall,
          decideMs: change.time - start.time,
          restoreMs: r.at,
          plainMs,
          nodeMs: node.ms,
          noisy: noisyBefore || qemuNow(),
        };
        out.push(trial);
        log(`N: trial ${i + 1}/${trials}: --now -> gone ${ms(w.at)} (last seen ${ms(w.lastOther)}; --now exit ${ms(c.ms)}, cycle start +${ms(trial.toCycleMs)}, change +${ms(trial.decideMs)}), restore ${ms(r.at)}; plain watchdog -> gone ${ms(plainMs)}; node -e 0 ${ms(node.ms)}`);
      }
    } finally {
      if (daemon && daemon.child.exitCode === null) {
        const exited = new Promise((res) => daemon!.child.once('exit', res));
        daemon.child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL');
      }
    }
  });
  return out;
}

export function printN(results: NResult[]): void {
  const rows: (string | number)[][] = [];
  for (const r of results) {
    const s = (pick: (t: NTrial) => number): Sample[] => r.trials.map((t) => ({ ms: pick(t), noisy: t.noisy })).filter((x) => !Number.isNaN(x.ms));
    const row = (what: string, pick: (t: NTrial) => number) => {
      const xs = s(pick);
      rows.push([r.variant, what, xs.length, quietStat(xs, median), ms(pct(xs.map((x) => x.ms), 90)), ms(max(xs.map((x) => x.ms)))]);
    };
    row('`watchdog --now` -> route gone at the router', (t) => t.nowMs);
    row('  last poll that still saw it', (t) => t.lastSeenMs);
    row('  the --now process, spawn to exit', (t) => t.clientMs);
    row('  --now spawned -> daemon cycle starts', (t) => t.toCycleMs);
    row('  cycle start -> change decided, state written', (t) => t.decideMs);
    row('  change decided -> route gone (apply, BGP UPDATE, poll)', (t) => t.nowMs - t.toCycleMs - t.decideMs);
    row('`watchdog --now` -> route back (restore)', (t) => t.restoreMs);
    row('baseline: plain `vip-mgmt watchdog` -> route gone', (t) => t.plainMs);
    row('baseline: `node -e 0`', (t) => t.nodeMs);
  }
  printTable(
    `N. \`vip-mgmt watchdog --now\` to a \`watchdog --every ${PERIOD}\` daemon (fall 1); last live real of the VIP set to weight 0 (atomic rename) -> route gone from the router. Without --now the daemon acts at its next period: ${PERIOD} worst, half of it on average`,
    ['IPVS table', 'measurement', 'n', 'median', 'p90', 'worst'],
    rows,
  );
}
