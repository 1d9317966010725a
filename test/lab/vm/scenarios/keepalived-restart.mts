// Runs INSIDE the IPVS VM (see ../README.md): keepalived restarted under a running watchdog daemon.
//
// The stack of stack.mts with keepalived owning the whole IPVS table (two VIPs, three virtual
// services, HTTP-checked), the watchdog daemon `watchdog --every 1s` with the default rise, fall and
// settle, and the VIPs announced at the router. keepalived is then restarted RESTARTS times the way
// an operator or config management does it (SIGTERM to the pid started, wait for its exit and for one
// daemon cycle on the emptied table, start it
// again, wait for its services in /proc/net/ip_vs, let the daemon run CYCLES cycles). keepalived
// clears its virtual services when it stops, so each restart leaves the table empty for a moment.
// Watched the whole time, by independent witnesses:
//   - the router's BGP table, polled every 100 ms (`show bgp ipv4 unicast P/32 json` on bgpd's vty socket);
//   - the router's bgpd, `debug bgp updates in` to a log file: every UPDATE withdrawing a VIP;
//   - the router's kernel FIB, `ip monitor route` in its namespace: every route zebra deleted;
//   - the daemon's own log (`> delete route` lines) and its per-cycle --json output;
//   - the LB's IPVS table, read every ~20 ms from /proc/PID/net/ip_vs (no fork per read).
// Then the control: keepalived stopped for good; the daemon must withdraw both VIPs after `settle`
// doubted cycles and `fall` believed ones. Everything is recorded in $VM_OUT/result.json;
// watchdog-vm.test.ts asserts on the host.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createStack, runScenario } from './stack.mts';

const RESTARTS = Number(process.env.VM_KA_RESTARTS ?? 20);
/** daemon cycles that finish after keepalived's services are back, before the next restart */
const CYCLES = Number(process.env.VM_KA_CYCLES ?? 2);
const POLL_MS = 100;
const IPVS_POLL_MS = 20;

export const VIP = { web: '192.0.2.10', shop: '192.0.2.11' } as const;
const KA = [
  { vip: VIP.web, port: 80 },
  { vip: VIP.shop, port: 80 },
  { vip: VIP.shop, port: 443 },
];
const FULL = { services: KA.length, reals: 2 * KA.length };
const PREFIXES = [`${VIP.web}/32`, `${VIP.shop}/32`];

/** One daemon cycle, from its --json output. */
export interface Cycle {
  /** ms since the scenario's t0 when its output arrived (the cycle's end) */
  t: number;
  errors: string[];
  acted: Record<string, string>;
  reasons: Record<string, string>;
}
/** The IPVS table changed shape (ms since t0). */
export interface IpvsShape {
  t: number;
  services: number;
  reals: number;
  /** real servers with weight > 0 */
  live: number;
}
export interface Restart {
  i: number;
  /** SIGTERM sent (ms since t0) */
  t: number;
  termToExitMs: number;
  /** from the start to every service back with its live real servers */
  startToBackMs: number;
  /** the table's shapes from the SIGTERM to the services back */
  shapes: string[];
  /** headers only (no virtual service) in this restart: ms, summed over the restart */
  emptyMs: number;
  /** anything but the full table: ms */
  degradedMs: number;
  /** daemon cycles ending between the SIGTERM and CYCLES cycles after the services were back */
  cycles: number;
  /** of them, cycles that did not believe the table or a VIP (VIP_E_IPVS_IMPLAUSIBLE) */
  doubted: number;
  reasons: string[];
}
export interface Witnesses {
  /** the router's table polled: polls, and times a VIP went from present to absent */
  polls: number;
  pollMedianMs: number;
  pollMaxMs: number;
  /** prefix -> present-to-absent transitions seen by the poll */
  withdrawals: Record<string, number>;
  /** polls that found a VIP absent */
  absentPolls: number;
  /** UPDATEs withdrawing a VIP, from the router's bgpd debug log */
  bgpWithdrawn: number;
  /** kernel route deletions of a VIP in the router's namespace */
  fibDeleted: number;
  /** `> delete route` / `> add route` lines in the daemon's log */
  deleteLines: number;
  addLines: number;
  cycles: number;
  /** of them, cycles that believed a VIP had too few live real servers (a "falling" VIP) */
  falling: number;
}
export interface RestartResult {
  watchdog?: Record<string, unknown>;
  restarts: Restart[];
  loop?: Witnesses & { ms: number };
  control?: Witnesses & {
    /** SIGTERM to keepalived's exit */
    termToExitMs: number;
    /** from keepalived's exit until the poll saw each VIP gone */
    goneMs: Record<string, number | null>;
    /** the daemon's cycles from the stop to the withdrawal */
    cyclesToDelete: Cycle[];
  };
  /** the table as read while it was empty, once */
  emptyTable?: string;
  /** a table seen between empty and full (services without all their real servers), once */
  partialTable?: string;
  shapes?: IpvsShape[];
  cycles?: Cycle[];
  daemon?: { exit: number | null; log: string; stdoutTail: string };
  keepalived?: { log: string };
  bgpLog?: string;
  fib?: string;
  setupMs?: number;
  error?: string;
}

const result: RestartResult = { restarts: [] };

/**
 * One persistent connection to a daemon's vty socket, speaking vtysh's protocol: a command ends
 * with a NUL; the answer ends with three NULs and a status byte. Commands run one at a time.
 */
async function routerVty(path: string): Promise<(cmd: string) => Promise<string>> {
  const sock = connect(path);
  await new Promise((res, rej) => sock.once('connect', res).once('error', rej));
  sock.unref();
  let buf = Buffer.alloc(0);
  let waiter: ((out: string) => void) | null = null;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const end = buf.indexOf(Buffer.from([0, 0, 0]));
    if (end >= 0 && buf.length >= end + 4 && waiter) {
      const out = buf.subarray(0, end).toString();
      buf = buf.subarray(end + 4);
      const w = waiter;
      waiter = null;
      w(out);
    }
  });
  return (cmd) =>
    new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`vty ${path}: no answer to "${cmd}" in 30 s`)), 30_000);
      waiter = (out) => {
        clearTimeout(timer);
        res(out);
      };
      sock.write(`${cmd}\0`);
    });
}

function shapeOf(text: string): Omit<IpvsShape, 't'> {
  let services = 0;
  let reals = 0;
  let live = 0;
  for (const line of text.split('\n')) {
    if (/^(TCP|UDP|SCTP|FWM)\s/.test(line)) services++;
    const m = /^\s+->\s+[0-9A-F[]\S*\s+\S+\s+(\d+)/.exec(line);
    if (m) {
      reals++;
      if (Number(m[1]) > 0) live++;
    }
  }
  return { services, reals, live };
}
const shapeText = (s: Omit<IpvsShape, 't'>) => (s.services === 0 ? 'empty' : `${s.services} services/${s.live} of ${s.reals} reals live`);

async function main(): Promise<void> {
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const stack = await createStack({
    vips: Object.values(VIP),
    keepalived: KA,
    hosts: [
      ['web.vm.test', VIP.web],
      ['shop.vm.test', VIP.shop],
    ],
  });
  const { lab } = stack;
  // The defaults (rise 2, fall 2, settle 2): no rise/fall/settle keys.
  result.watchdog = { ipvs: { source: 'proc', path: '/proc/net/ip_vs' } };
  const cfg = await stack.writeConfig(
    stack.config({
      datacenters: { lab1: 64512, lab2: 64513 },
      services: [
        { name: 'web.vm.test', prefer: ['lab1', 'lab2'] },
        { name: 'shop.vm.test', prefer: ['lab1', 'lab2'] },
      ],
      watchdog: result.watchdog,
    }),
  );

  // Witness: the router's bgpd logs every UPDATE it receives (withdrawals included).
  const bgpLogFile = `/var/run/frr/${lab.router.pathspace}/bgp-updates.log`;
  await lab.router.vtysh(['configure terminal', `log file ${bgpLogFile} debugging`, 'end', 'debug bgp updates in']);
  // Witness: routes zebra removes from the router's kernel table.
  let fib = '';
  const monitor = spawn('ip', ['-n', lab.router.ns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  stack.children.push(monitor);
  monitor.stdout!.on('data', (d: Buffer) => (fib += d.toString()));

  // Witness: the LB's IPVS table, every IPVS_POLL_MS, shapes recorded when they change.
  const shapes: IpvsShape[] = [];
  result.shapes = shapes;
  let watching = true;
  const ipvsWatch = (async () => {
    while (watching) {
      const text = await stack.readIpvs().catch(() => '');
      const s = shapeOf(text);
      const last = shapes.at(-1);
      if (!last || last.services !== s.services || last.reals !== s.reals || last.live !== s.live) {
        shapes.push({ t: now(), ...s });
        if (s.services === 0) result.emptyTable ??= text;
        else if (s.live < FULL.reals || s.services < FULL.services) result.partialTable ??= text;
      }
      await sleep(IPVS_POLL_MS);
    }
  })();

  // The daemon, with --json so that every cycle leaves a record on stdout.
  const daemon = stack.spawnCli(['watchdog', '--every', '1s', '--json'], cfg);
  const cycles: Cycle[] = [];
  result.cycles = cycles;
  let buf = '';
  daemon.proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let end = buf.indexOf('\n}\n'); end >= 0; end = buf.indexOf('\n}\n')) {
      const doc = JSON.parse(buf.slice(0, end + 2)) as { changes: { prefix: string; action: string; reason: string }[]; errors: { code: string }[] };
      buf = buf.slice(end + 3);
      cycles.push({
        t: now(),
        errors: doc.errors.map((e) => e.code),
        acted: Object.fromEntries(doc.changes.filter((c) => c.action !== 'none').map((c) => [c.prefix, c.action])),
        reasons: Object.fromEntries(doc.changes.map((c) => [c.prefix, c.reason])),
      });
    }
  });
  const waitCycles = async (n: number, after: number, timeoutMs = 60_000) => {
    const until = performance.now() + timeoutMs;
    while (cycles.filter((c) => c.t > after).length < n) {
      if (performance.now() > until) throw new Error(`the daemon ran no ${n} cycles in ${timeoutMs} ms after t=${after}\n${daemon.stderr().slice(-4000)}`);
      if (daemon.proc.exitCode !== null) throw new Error(`the daemon exited ${daemon.proc.exitCode}\n${daemon.stderr().slice(-4000)}`);
      await sleep(50);
    }
  };
  for (const p of PREFIXES) await lab.waitRoute(p, (r) => r?.best != null, 90_000);
  await waitCycles(2, now());

  // Witness: the router's BGP table, polled for the whole loop and the control, with the command
  // vtysh would send, over one connection to the router bgpd's vty socket (a vtysh process costs
  // 1-2 s under tcg; a command on the socket a few ms).
  const vty = await routerVty(`/var/run/frr/${lab.router.pathspace}/bgpd.vty`);
  const polls: { t: number; ms: number; present: Record<string, boolean> }[] = [];
  let polling = true;
  let pollError: unknown = null;
  const poller = (async () => {
    try {
      while (polling) {
        const t = performance.now();
        const present: Record<string, boolean> = {};
        for (const p of PREFIXES) {
          const j = JSON.parse(await vty(`show bgp ipv4 unicast ${p} json`)) as { paths?: { bestpath?: { overall?: boolean } }[] };
          present[p] = Boolean(j.paths?.some((x) => x.bestpath?.overall));
        }
        polls.push({ t: now(), ms: Math.round(performance.now() - t), present });
        await sleep(Math.max(0, POLL_MS - (performance.now() - t)));
      }
    } catch (e) {
      pollError = e;
    }
  })();
  const pollOk = () => {
    if (pollError) throw new Error(`the router poll failed: ${String((pollError as Error)?.stack ?? pollError)}`);
  };
  // the poller must have seen the VIPs before the loop starts
  while (polls.length < 2) {
    pollOk();
    await sleep(50);
  }
  result.setupMs = now();

  /** The polled and logged witnesses between two moments (ms since t0) and two offsets of the daemon's log. */
  const witnesses = (from: number, to: number, logFrom: number, logTo: number, events: { bgpWithdrawn: number; fibDeleted: number }): Witnesses => {
    const ps = polls.filter((p) => p.t >= from && p.t <= to);
    const withdrawals = Object.fromEntries(PREFIXES.map((p) => [p, 0]));
    let prev = polls.filter((p) => p.t < from).at(-1);
    for (const s of ps) {
      for (const p of PREFIXES) if (prev && prev.present[p] && !s.present[p]) withdrawals[p]!++;
      prev = s;
    }
    const ms = ps.map((p) => p.ms).sort((a, b) => a - b);
    const log = daemon.stderr().slice(logFrom, logTo);
    return {
      polls: ps.length,
      pollMedianMs: ms[Math.floor(ms.length / 2)] ?? 0,
      pollMaxMs: ms.at(-1) ?? 0,
      withdrawals,
      absentPolls: ps.filter((s) => PREFIXES.some((p) => !s.present[p])).length,
      ...events,
      deleteLines: (log.match(/> delete route/g) ?? []).length,
      addLines: (log.match(/> add route/g) ?? []).length,
      cycles: cycles.filter((c) => c.t >= from && c.t <= to).length,
      falling: cycles.filter((c) => c.t >= from && c.t <= to && Object.values(c.reasons).some((r) => /^falling/.test(r))).length,
    };
  };
  // Counts of the event witnesses, cut into the loop's and the control's share by position.
  const vipRe = PREFIXES.map((p) => p.split('/')[0]!.replace(/\./g, '\\.')).join('|');
  const bgpWithdrawn = async () => ((await readFile(bgpLogFile, 'utf8').catch(() => '')).match(new RegExp(`(${vipRe})/32\\b.*withdrawn`, 'g')) ?? []).length;
  const fibDeleted = () => (fib.match(new RegExp(`^Deleted (${vipRe})\\b`, 'gm')) ?? []).length;

  // The loop.
  const loopFrom = now();
  const logFrom = daemon.stderr().length;
  const bgpBefore = await bgpWithdrawn();
  const fibBefore = fibDeleted();
  for (let i = 1; i <= RESTARTS; i++) {
    const t = now();
    const termToExitMs = Math.round(await stack.keepalived.stop());
    // Start again only once a daemon cycle has finished on the emptied table: on a quiet machine a
    // restart can be faster than the 1 s period, and the test must see the doubted-table path it is
    // about (at most one period more of empty table than a bare restart).
    const stoppedAt = now();
    for (const until = performance.now() + 30_000; !cycles.some((c) => c.t > stoppedAt && c.errors.includes('VIP_E_IPVS_IMPLAUSIBLE')); ) {
      if (performance.now() > until) throw new Error(`restart ${i}: no daemon cycle doubted the emptied table within 30 s\n${daemon.stderr().slice(-4000)}`);
      await sleep(20);
    }
    const tStart = performance.now();
    stack.keepalived.start();
    // back: every service with its live real servers, as the poller of the table saw it
    for (;;) {
      const s = shapeOf(await stack.readIpvs());
      if (s.services === FULL.services && s.live === FULL.reals) break;
      if (performance.now() - tStart > 60_000) throw new Error(`restart ${i}: keepalived's services not back after 60 s: ${shapeText(s)}\n${stack.keepalived.log}`);
      await sleep(IPVS_POLL_MS);
    }
    const startToBackMs = Math.round(performance.now() - tStart);
    const back = now();
    // the table poller records the full table too (a moment later under load)
    const isFull = (s: Omit<IpvsShape, 't'> | undefined) => s?.services === FULL.services && s.live === FULL.reals;
    for (const stop = performance.now() + 10_000; !isFull(shapes.at(-1)) && performance.now() < stop; ) await sleep(IPVS_POLL_MS);
    const fullAt = Math.max(back, shapes.at(-1)!.t);
    await waitCycles(CYCLES, back);
    const end = cycles.filter((c) => c.t > back)[CYCLES - 1]!.t;
    // the table's shapes from the SIGTERM to the services back, and how long each lasted
    const within = shapes.filter((s) => s.t >= t && s.t <= fullAt);
    const before = shapes.filter((s) => s.t < t).at(-1);
    const seq = [...(before ? [before] : []), ...within];
    let emptyMs = 0;
    let degradedMs = 0;
    for (const [k, s] of seq.entries()) {
      const from = Math.max(s.t, t);
      const to = seq[k + 1]?.t ?? back;
      if (s.services === 0) emptyMs += to - from;
      if (s.services !== FULL.services || s.live !== FULL.reals) degradedMs += to - from;
    }
    const mine = cycles.filter((c) => c.t > t && c.t <= end);
    result.restarts.push({
      i,
      t,
      termToExitMs,
      startToBackMs,
      shapes: within.map(shapeText),
      emptyMs,
      degradedMs,
      cycles: mine.length,
      doubted: mine.filter((c) => c.errors.includes('VIP_E_IPVS_IMPLAUSIBLE')).length,
      reasons: [...new Set(mine.flatMap((c) => Object.values(c.reasons)))],
    });
  }
  pollOk();
  const loopTo = now();
  const logTo = daemon.stderr().length;
  await sleep(POLL_MS * 3); // a withdrawal at the very end would reach the router now
  const loopW = witnesses(loopFrom, now(), logFrom, logTo, { bgpWithdrawn: (await bgpWithdrawn()) - bgpBefore, fibDeleted: fibDeleted() - fibBefore });
  result.loop = { ...loopW, ms: loopTo - loopFrom };

  // The control: keepalived stopped for good. The daemon must act on a real outage.
  const ctlFrom = now();
  const bgpCtl = await bgpWithdrawn();
  const fibCtl = fibDeleted();
  const termToExitMs = Math.round(await stack.keepalived.stop());
  const exited = now();
  const goneMs: Record<string, number | null> = Object.fromEntries(PREFIXES.map((p) => [p, null]));
  const until = performance.now() + 90_000;
  while (Object.values(goneMs).some((v) => v === null) && performance.now() < until) {
    pollOk();
    for (const p of PREFIXES) {
      const gone = polls.find((s) => s.t > exited && !s.present[p]);
      if (gone && goneMs[p] === null) goneMs[p] = gone.t - exited;
    }
    await sleep(100);
  }
  // the deleting cycle prints its record after the apply and the read-back
  const deleted = () => cycles.some((c) => c.t > exited && Object.values(c.acted).includes('delete'));
  for (const stop = performance.now() + 30_000; !deleted() && performance.now() < stop; ) await sleep(100);
  await sleep(POLL_MS * 3);
  const ctlW = witnesses(ctlFrom, now(), logTo, daemon.stderr().length, { bgpWithdrawn: (await bgpWithdrawn()) - bgpCtl, fibDeleted: fibDeleted() - fibCtl });
  const firstDelete = cycles.findIndex((c) => c.t > exited && Object.values(c.acted).includes('delete'));
  result.control = {
    ...ctlW,
    termToExitMs,
    goneMs,
    cyclesToDelete: cycles.filter((c, k) => c.t > exited && (firstDelete < 0 || k <= firstDelete)),
  };

  polling = false;
  watching = false;
  await poller;
  await ipvsWatch;
  pollOk();
  result.daemon = { exit: await daemon.stop(), log: daemon.stderr().slice(-200_000), stdoutTail: buf };
  result.keepalived = { log: stack.keepalived.log };
  result.bgpLog = (await readFile(bgpLogFile, 'utf8').catch(() => '')).split('\n').filter((l) => /withdrawn|rcvd UPDATE/.test(l)).slice(-200).join('\n');
  result.fib = fib.split('\n').slice(-200).join('\n');
}

await runScenario(result, main);
