// Bench H: 1,000 host health checks (100 services x 10 tcp checks) at a 1 s interval through the daemon's own parts: CPU use and p99 check-to-decision latency.
//
// In process, with the built modules the daemon runs (adapters/checks.js scheduleChecks, core/cycle.js
// planCycle) and a simulated speaker, so the number is the checks' and the cycle's cost, not FRR's:
// section D measures the speaker side of a failover. The tcp listeners run in this process too, so
// the CPU figure includes accepting 1,000 connections a second (an upper bound for the checks).
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as ChecksAdapter from '../src/adapters/checks.ts';
import type * as CycleModule from '../src/core/cycle.ts';
import type * as StateModule from '../src/core/state.ts';
import type { CycleConfig } from '../src/core/cycle.ts';
import type { ResolvedName, RunningBgp } from '../src/core/types.ts';
import { dist, log, max, median, ms, pct, printTable } from './lib.ts';

const SERVICES = 100;
const PER = 10;
const RUN_MS = 30_000;

export async function benchH(): Promise<{ cpuPct: number; p50: number; p99: number; max: number; changes: number; cycles: number }> {
  const { scheduleChecks } = (await import(dist('adapters/checks.js'))) as typeof ChecksAdapter;
  const { planCycle } = (await import(dist('core/cycle.js'))) as typeof CycleModule;
  const { emptyState } = (await import(dist('core/state.js'))) as typeof StateModule;

  // one listener per service: closing it fails that service's 10 checks, reopening restores them
  const servers: (net.Server | null)[] = [];
  const ports: number[] = [];
  const open = (i: number, port = 0) =>
    new Promise<void>((res) => {
      const s = net.createServer((c) => c.destroy());
      s.listen(port, '127.0.0.1', () => {
        ports[i] = (s.address() as net.AddressInfo).port;
        servers[i] = s;
        res();
      });
    });
  for (let i = 0; i < SERVICES; i++) await open(i);

  const services = Array.from({ length: SERVICES }, (_, i) => ({
    name: `s${i}.bench.test`, prefer: ['par1'], min_realservers: 1, live_from: 'checks' as const,
    checks: Array.from({ length: PER }, () => ({ type: 'tcp' as const, target: { host: '127.0.0.1', port: ports[i]! }, timeout: 500, interval: 1000 })),
  }));
  const config = {
    dc: 'par1', vip_prefixes: ['192.0.2.0/24'], services,
    watchdog: { rise: 1, fall: 1, settle: 2, down_action: 'withdraw', ipvs: { source: 'proc', path: '/x', ipvsadm: 'ipvsadm' }, fwmarks: {}, exclude_realservers: [], discover: false, metrics_file: '', min_realservers: 1 },
  } as unknown as CycleConfig;
  const resolved: ResolvedName[] = services.map((s, i) => ({ name: s.name, chain: [], addresses: [`192.0.2.${i + 1}`], ttl: 60 }));
  let state = emptyState();
  const configured = new Map<string, string | null>();

  // the daemon loop in small: a change requests a cycle; cycles never overlap
  const latencies: number[] = [];
  let cycles = 0;
  let requested = false;
  let running = false;
  let pendingSince: number | null = null;
  let sched: ReturnType<typeof scheduleChecks>;
  const cycle = async () => {
    running = true;
    while (requested) {
      requested = false;
      const since = pendingSince;
      pendingSince = null;
      const r: RunningBgp = { asn: 64512, networks: [...configured].map(([prefix, routeMap]) => ({ prefix, routeMap })), routeMaps: ['VIP-RANK-0'], text: '' };
      const plan = planCycle({ config, resolved, ipvs: null, checks: sched.results(), running: r, state, now: new Date() });
      state = plan.state;
      for (const c of plan.changes) c.action === 'add' ? configured.set(c.prefix, c.routeMap) : configured.delete(c.prefix);
      cycles++;
      if (since !== null && measuring) latencies.push(performance.now() - since);
      await sleep(0);
    }
    running = false;
  };
  let measuring = false;
  sched = scheduleChecks(services, {
    defaultIntervalMs: 1000,
    confirm: 0,
    onChange: () => {
      pendingSince ??= performance.now(); // the outcome was recorded just now
      requested = true;
      if (!running) void cycle();
    },
  });
  await sleep(3000); // the first results and cycles
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let flips = 0;
  // every 500 ms one service's listener closes or reopens: its checks change within a second
  while (performance.now() - t0 < RUN_MS) {
    const i = flips % SERVICES;
    if (servers[i]) {
      const s = servers[i]!;
      servers[i] = null;
      await new Promise((r) => s.close(r));
    } else await open(i, ports[i]);
    flips++;
    await sleep(500);
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  sched.stop();
  for (const s of servers) s?.close();
  const cpuPct = ((cpu.user + cpu.system) / 1000 / wall) * 100;
  const res = { cpuPct, p50: median(latencies), p99: pct(latencies, 99), max: max(latencies), changes: latencies.length, cycles };
  printTable(`H: ${SERVICES * PER} tcp checks at 1 s (${SERVICES} services x ${PER}), ${(wall / 1000).toFixed(0)} s, ${flips} listener flips`, ['CPU (one core)', 'cycles', 'measured changes', 'p50 check->decision', 'p99', 'max'], [
    [`${cpuPct.toFixed(1)} %`, cycles, latencies.length, ms(res.p50), ms(res.p99), ms(res.max)],
  ]);
  log('H: latency is from a check outcome that changed a verdict being recorded to the end of the cycle that decided on it');
  return res;
}
