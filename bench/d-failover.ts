// Bench D: `vip-mgmt watchdog --every 1s` as a daemon; time from the IPVS table change (atomic rename) to the route leaving the router.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IpvsService, IpvsTable } from '../src/core/ipvs.ts';
import { benchTable, formatProcIpVs } from './gen-ipvs.ts';
import { TARGET_BIN, log, max, median, ms, printTable, qemuNow, quietStat, spawnDaemon, withBenchLab } from './lib.ts';

const ASN = 64512;
const NAME = 'failover.bench.example.test';
/** Outside every VIP of benchTable (it uses 192.0.2.0-255 and 203.0.113.0-193). */
const VIP = '203.0.113.250';
const PREFIX = `${VIP}/32`;

/** The watched VIP: port 80 with two live reals, port 443 with one live real (the last) and one at weight 0. */
function target(lastWeight: number): IpvsService[] {
  const real = (address: string, port: number, weight: number) => ({ address, port, forward: 'route', weight, active: 3, inactive: 10 });
  return [
    { kind: 'tcp', vip: VIP, port: 80, fwmark: null, scheduler: 'wrr', persistent: null, flags: [], reals: [real('198.51.100.101', 80, 10), real('198.51.100.102', 80, 10)] },
    { kind: 'tcp', vip: VIP, port: 443, fwmark: null, scheduler: 'wrr', persistent: null, flags: [], reals: [real('198.51.100.101', 443, lastWeight), real('198.51.100.102', 443, 0)] },
  ];
}

export interface DTrial {
  withdrawMs: number;
  /** time of the last poll that still saw the route: the true moment lies between this and withdrawMs */
  lastSeenMs: number;
  restoreMs: number;
  polls: number;
  /** qemu was running before or after the trial */
  noisy: boolean;
}

export interface DResult {
  variant: string;
  trials: DTrial[];
}

export async function benchD(opts: { trials?: number; variants?: ('small' | 'big')[] } = {}): Promise<DResult[]> {
  const trials = opts.trials ?? 20;
  const results: DResult[] = [];
  for (const variant of opts.variants ?? ['small', 'big']) {
    const background = variant === 'big' ? benchTable({ services: 10_000, reals: 8 }).services : [];
    results.push({ variant: variant === 'big' ? `10,000 other services x 8 reals + the VIP's 2` : `the VIP's 2 services only`, trials: await runVariant(background, trials) });
  }
  printD(results);
  return results;
}

async function runVariant(background: IpvsService[], trials: number): Promise<DTrial[]> {
  const up = formatProcIpVs({ services: [...background, ...target(10)], warnings: [], malformed: [] } satisfies IpvsTable);
  const down = formatProcIpVs({ services: [...background, ...target(0)], warnings: [], malformed: [] } satisfies IpvsTable);
  log(`D: ${background.length + 2} services in the table; building the lab`);
  const out: DTrial[] = [];
  const lbSpec = { name: 'par1', asn: ASN, vips: [VIP], networks: [[PREFIX, 'VIP-RANK-0']] as [string, string][] };
  await withBenchLab({ tag: 'd', lb: lbSpec, hosts: [[NAME, VIP]], ttl: 300 }, async ({ dir, lab, config }) => {
    const tablePath = join(dir, 'ip_vs');
    // write + rename: the daemon never reads a half-written table
    const install = async (text: string) => {
      const tmp = `${tablePath}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, tablePath);
    };
    await install(up);
    const cfg = await config({
      vipPrefixes: ['203.0.113.0/24'],
      services: [{ name: NAME, prefer: ['par1', 'lon1'] }],
      // fall 1: D times one reaction (the path from table change to router); the default fall 2 adds one period
      extra: { watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: tablePath } } },
    });
    let daemon: ReturnType<typeof spawnDaemon> | null = null;
    try {
      await lab.waitRoute(PREFIX, (r) => r?.best != null);
      daemon = spawnDaemon([process.execPath, TARGET_BIN, '-c', cfg, 'watchdog', '--every', '1s']);
      await sleep(3000); // a few healthy cycles first
      if (daemon.child.exitCode !== null) throw new Error(`watchdog daemon exited: ${daemon.output()}`);

      // Poll the router (one vtysh json call per poll, ~20 ms apart) until pred holds; times from t0.
      const until = async (t0: number, pred: (present: boolean) => boolean): Promise<{ at: number; lastOther: number; polls: number }> => {
        let lastOther = 0;
        for (let polls = 1; ; polls++) {
          const present = (await lab.routerRoute(PREFIX)) !== null;
          const now = performance.now() - t0;
          if (pred(present)) return { at: now, lastOther, polls };
          lastOther = now;
          if (now > 15_000) throw new Error(`router: ${PREFIX} did not change within 15 s; daemon output:\n${daemon!.output().slice(-3000)}`);
          await sleep(20);
        }
      };
      for (let i = 0; i < trials; i++) {
        await sleep(Math.random() * 1000); // any phase of the daemon's 1 s period
        const noisyBefore = qemuNow();
        await install(down);
        const t0 = performance.now();
        const w = await until(t0, (present) => !present);
        await sleep(Math.random() * 1000);
        await install(up);
        const t1 = performance.now();
        const r = await until(t1, (present) => present);
        out.push({ withdrawMs: w.at, lastSeenMs: w.lastOther, restoreMs: r.at, polls: w.polls, noisy: noisyBefore || qemuNow() });
        log(`D: trial ${i + 1}/${trials}: withdrawn on the router after ${ms(w.at)} (last seen at ${ms(w.lastOther)}), restored after ${ms(r.at)}`);
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

export function printD(results: DResult[]): void {
  printTable(
    'D. Failover: `vip-mgmt watchdog --every 1s` daemon; last live real of the VIP set to weight 0 (atomic rename) -> route gone from the router',
    ['IPVS table', 'trials', 'withdraw median', 'withdraw worst', 'last poll still present (median)', 'restore median', 'restore worst'],
    results.map((r) => {
      const w = r.trials.map((t) => ({ ms: t.withdrawMs, noisy: t.noisy }));
      const s = r.trials.map((t) => t.restoreMs);
      return [r.variant, r.trials.length, quietStat(w, median), quietStat(w, max), ms(median(r.trials.map((t) => t.lastSeenMs))), ms(median(s)), ms(max(s))];
    }),
  );
}
