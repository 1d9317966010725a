// F (inside the etcd lab's management namespace): 200 simulated hosts x 1,000 VIPs on a real 3-member etcd; prints one JSON result line.
//
// Runs as `ip netns exec <mgmt ns> node --import tsx bench/f-fleet-sim.ts CONFIG ENDPOINTS...`, where
// the members' addresses are reachable. Uses the measured tree's compiled adapter (dist/adapters/etcd.js),
// the same code a host runs, one FleetStore (one gRPC client) per simulated host, as 200 daemons would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { dist, TARGET_BIN } from './lib.ts';

const run = promisify(execFile);
const [config, ...endpoints] = process.argv.slice(2);
const HOSTS = Number(process.env.F_HOSTS ?? 200);
const VIPS = Number(process.env.F_VIPS ?? 1000);
const DCS = ['par1', 'lon1', 'fra1', 'ams1'];
const ROUNDS = Number(process.env.F_ROUNDS ?? 20);

const { openFleetStore } = (await import(dist('adapters/etcd.js'))) as typeof import('../src/adapters/etcd.ts');
const { hostRecord } = (await import(dist('core/fleet.js'))) as typeof import('../src/core/fleet.ts');
const cfg = { endpoints, prefix: '/vip-mgmt/', lease_ttl: 180_000, timeout: 10_000 };

/** VIP i as a host prefix: the three IPv4 documentation /24s, then 2001:db8::/48. */
const vipPrefix = (i: number) => (i < 250 ? `192.0.2.${i + 1}/32` : i < 500 ? `198.51.100.${i - 249}/32` : i < 750 ? `203.0.113.${i - 499}/32` : `2001:db8::${(i + 1).toString(16)}/128`);
const prefixes = Array.from({ length: VIPS }, (_, i) => vipPrefix(i));

async function walBytes(): Promise<number> {
  let sum = 0;
  for (const e of endpoints) {
    const text = await (await fetch(`${e}/metrics`)).text();
    sum += Number(/^etcd_disk_wal_write_bytes_total (\S+)$/m.exec(text)?.[1] ?? NaN);
  }
  return sum;
}

const record = (h: number, at: Date, live = 4) => {
  const dc = DCS[h % DCS.length]!;
  return hostRecord({
    host: `lb${String(h).padStart(3, '0')}.${dc}`,
    dc,
    at,
    by: 'watchdog',
    running: { networks: prefixes.map((p) => ({ prefix: p, routeMap: `VIP-RANK-${h % 2}` })) },
    state: { holds: {}, watchdog: Object.fromEntries(prefixes.map((p) => [p, { state: 'up' as const, count: 0, live, since: at.toISOString() }])) },
    inside: () => true,
  });
};

const stores = await Promise.all(Array.from({ length: HOSTS }, () => openFleetStore(cfg)));
try {
  // 1. one publish cycle of every host (as many at a time as 200 crons started in the same second would be)
  const wal0 = await walBytes();
  const lat: number[] = [];
  let payload = 0;
  const t0 = performance.now();
  await Promise.all(
    stores.map(async (s, h) => {
      const t = performance.now();
      const r = await s.publish(record(h, new Date()));
      lat.push(performance.now() - t);
      payload += r.bytes;
    }),
  );
  const cycleMs = performance.now() - t0;
  await sleep(500);
  const wal1 = await walBytes();
  // a second cycle: nothing changed (each host keeps its lease alive and rewrites its seen key)
  const t1 = performance.now();
  const lat2: number[] = [];
  let payload2 = 0;
  await Promise.all(
    stores.map(async (s, h) => {
      const t = performance.now();
      const r = await s.publish(record(h, new Date()));
      payload2 += r.bytes; // after the await: `x += await` would read x before it
      lat2.push(performance.now() - t);
    }),
  );
  const cycle2Ms = performance.now() - t1;
  await sleep(500);
  const wal2 = await walBytes();
  // a third: every record changed (a live count on every VIP of every host)
  const t3 = performance.now();
  let payload3 = 0;
  await Promise.all(
    stores.map(async (s, h) => {
      const r = await s.publish(record(h, new Date(), 5));
      payload3 += r.bytes;
    }),
  );
  const cycle3Ms = performance.now() - t3;
  await sleep(500);
  const wal3 = await walBytes();

  // what a watchdog cycle that plans a health-driven withdrawal does for the last-DC guard: its
  // intent written, the whole fleet read, the intent removed (after its publish, in a real cycle)
  const guardRead: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const leaving = await stores[1]!.announceLeaving({ v: 1, dc: 'dc1', host: 'bench', prefixes: ['198.18.0.1/32'], at: new Date().toISOString(), by: 'watchdog' });
    await stores[1]!.view();
    await leaving.release();
    guardRead.push(performance.now() - t);
  }

  // 2. status --fleet (the CLI, Node start included), text and --json
  const statusMs: Record<string, number[]> = { text: [], json: [] };
  const statusBytes: Record<string, number> = {};
  for (let i = 0; i < 5; i++) {
    for (const kind of ['text', 'json'] as const) {
      const t = performance.now();
      const r = await run(process.execPath, [TARGET_BIN, '-c', config!, 'status', '--fleet', ...(kind === 'json' ? ['--json'] : [])], { maxBuffer: 1 << 30 });
      statusMs[kind]!.push(performance.now() - t);
      statusBytes[kind] = r.stdout.length;
    }
  }
  const statusLines = (await run(process.execPath, [TARGET_BIN, '-c', config!, 'status', '--fleet'], { maxBuffer: 1 << 30 })).stdout.split('\n').length;

  // 3. fleet hold propagation: every store watches the holds prefix, as every daemon does
  let pending: { t: number; seen: Set<number>; done: () => void } | null = null;
  const prop: number[] = [];
  const watches = stores.map((s, h) =>
    s.watchHolds(
      () => {
        if (!pending || pending.seen.has(h)) return;
        pending.seen.add(h);
        prop.push(performance.now() - pending.t);
        if (pending.seen.size === HOSTS) pending.done();
      },
      () => undefined,
    ),
  );
  await sleep(2000); // the watches are set up
  const setter = stores[0]!;
  for (let i = 0; i < ROUNDS; i++) {
    const done = new Promise<void>((res) => {
      pending = { t: performance.now(), seen: new Set(), done: res };
    });
    const hold = { v: 1 as const, dc: 'par1', name: 'www.example.test', prefixes: prefixes.slice(0, 2), reason: `round ${i}`, by: 'bench@lb000', since: new Date().toISOString() };
    if (i % 2 === 0) await setter.setHolds([hold]);
    else await setter.clearHold('par1', 'www.example.test');
    await Promise.race([done, sleep(10_000)]);
    pending = null;
    await sleep(100);
  }
  await Promise.all(watches.map((w) => w.stop()));

  const sortNum = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const pct = (xs: number[], p: number) => sortNum(xs)[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))]!;
  process.stdout.write(
    `${JSON.stringify({
      hosts: HOSTS,
      vips: VIPS,
      recordBytes: Math.round(payload / HOSTS),
      payloadBytes: payload,
      walFirst: wal1 - wal0,
      walSteady: wal2 - wal1,
      walChanged: wal3 - wal2,
      payloadSteady: payload2,
      payloadChanged: payload3,
      cycleMs,
      cycle2Ms,
      cycle3Ms,
      publishSteadyP50: pct(lat2, 50),
      publishSteadyP99: pct(lat2, 99),
      publishP50: pct(lat, 50),
      publishP99: pct(lat, 99),
      guardReadMs: pct(guardRead, 50),
      statusMs,
      statusBytes,
      statusLines,
      propagation: { samples: prop.length, expected: HOSTS * ROUNDS, p50: pct(prop, 50), p99: pct(prop, 99), max: Math.max(...prop) },
    })}\n`,
  );
} finally {
  for (const s of stores) s.close();
}
