// The watchdog on a real IPVS kernel: keepalived health-checking busybox httpd real servers into
// IPVS, FRR lb + router, dnsmasq (vm/scenarios/stack.mts), one VM boot per scenario, one after the
// other: the watchdog step by step (vm/scenarios/watchdog.mts), then keepalived restarted under the
// daemon (vm/scenarios/keepalived-restart.mts).
import { describe, before, after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireLab } from './prereq.ts';
import { FRR_LAB_COMMANDS } from './frr.ts';
import { requireVm, runInVm, VM_COMMANDS, type VmResult } from './vm/index.ts';
import type { Cycle, RestartResult } from './vm/scenarios/keepalived-restart.mts';

const NEEDS = [...VM_COMMANDS, ...FRR_LAB_COMMANDS, 'dnsmasq', 'keepalived', 'ipvsadm', 'busybox'];
const TRIALS = Number(process.env.VIP_LAB_FAILOVER_TRIALS ?? 3);
const RESTARTS = Number(process.env.VIP_LAB_KA_RESTARTS ?? 20);
/**
 * First line of every VM script: other work may rebuild dist/ on the host while a VM runs (the VM
 * reads the host's root live over 9p, and a rebuild deletes the old bundle chunks), so the VM takes
 * its own copy into its tmpfs overlay first; the host's tree is not touched.
 */
const SNAPSHOT_DIST = 'cp -a dist .dist-vm && rm -rf dist && mv .dist-vm dist || exit 125';
/** The scenario's record, or an error with the VM's output when it wrote none. */
const resultOf = (vm: VmResult): Promise<string> =>
  readFile(join(vm.outDir, 'result.json'), 'utf8').catch((e: Error) => {
    throw new Error(`the scenario wrote no result.json (${e.message}); VM script exit ${vm.code}, output:\n${vm.output.slice(-4000)}`);
  });
/** the watchdog's defaults since issue 9; the restart scenario's config sets none of them */
const DEFAULTS = { rise: 2, fall: 2, settle: 2 };

interface Step {
  name: string;
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  router: Record<string, number[] | null>;
  ipvs: string;
  extra?: any;
}
interface Result {
  steps: Step[];
  failover?: { ms: number[]; restoreMs: number[] };
  daemon?: { exit: number | null; log: string };
  keepalived?: { log: string };
  error?: string;
}

const W4 = '192.0.2.10/32';
const W6 = '2001:db8::10/128';
const API = '192.0.2.20/32';
const HELD = '192.0.2.30/32';
const SORRY = '192.0.2.40/32';
const NOSVC = '192.0.2.60/32';
const DISC = '192.0.2.50/32';
const LB_AS = 64512;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

describe('watchdog on a real IPVS kernel (VM): keepalived, IPVS, FRR, DNS', { concurrency: false }, () => {
  let vm: VmResult | null = null;
  let result: Result | null = null;
  let skipWhy: string | null = null;

  before(async () => {
    const { missing } = await import('./prereq.ts');
    const miss = missing(NEEDS, { root: true });
    if (miss.length > 0) {
      skipWhy = `missing: ${miss.join(', ')}`;
      return;
    }
    const script = `set -u\nexec 2>&1\ncd "$LAB_CWD"\n${SNAPSHOT_DIST}\nnode --import tsx test/lab/vm/scenarios/watchdog.mts\necho "scenario exit $?"\n`;
    vm = await runInVm(script, { timeoutMs: 900_000, memMb: 3072, env: { VM_FAILOVER_TRIALS: String(TRIALS) } });
    result = JSON.parse(await resultOf(vm)) as Result;
    const times = result.steps.map((s) => `${s.name} ${s.ms}`).join(', ');
    console.log(`# VM: boot ${vm.bootMs} ms, whole run ${vm.durationMs} ms; CLI runs (ms): ${times}`);
  });
  after(async () => {
    await vm?.cleanup();
  });

  /** The step's record, or skip/fail the test when the lab could not run. */
  const step = async (t: TestContext, name: string): Promise<Step | null> => {
    if (!requireLab(t, NEEDS, { root: true })) return null;
    if (!(await requireVm(t))) return null;
    assert.ok(result, `no scenario result (${skipWhy ?? 'VM did not run'})`);
    assert.equal(result.error, undefined, `scenario failed: ${result.error}\n${vm?.output.slice(-4000)}`);
    const s = result.steps.find((x) => x.name === name);
    assert.ok(s, `step ${name} missing`);
    return s;
  };
  const changes = (s: Step) => (JSON.parse(s.stdout) as { changes: { prefix: string; action: string; reason: string }[] }).changes;
  const acted = (s: Step) => Object.fromEntries(changes(s).filter((c) => c.action !== 'none').map((c) => [c.prefix, c.action]));
  const ctx = (s: Step) => `exit ${s.code}\n--- stdout\n${s.stdout}\n--- stderr\n${s.stderr}\n--- router\n${JSON.stringify(s.router)}\n--- ipvs\n${s.ipvs}`;

  test('all healthy: announced after rise cycles, with the rank AS path; empty and excluded-only VIPs stay out', async (t) => {
    const c1 = await step(t, 'cycle1');
    if (!c1) return;
    assert.equal(c1.code, 0, ctx(c1));
    assert.deepEqual(acted(c1), {}, 'rise 2: the first healthy cycle only starts rising');
    assert.ok(changes(c1).some((c) => c.prefix === W4 && /rising 1\/2/.test(c.reason)), ctx(c1));
    const c2 = (await step(t, 'cycle2'))!;
    assert.equal(c2.code, 0, ctx(c2));
    assert.deepEqual(acted(c2), { [W4]: 'add', [W6]: 'add', [API]: 'add', [HELD]: 'add', [DISC]: 'add' }, ctx(c2));
    assert.deepEqual(c2.router[W4], [LB_AS], 'rank 0: no prepend');
    assert.deepEqual(c2.router[W6], [LB_AS]);
    assert.deepEqual(c2.router[API], [LB_AS, LB_AS], 'api prefers lab2: rank 1, one prepend');
    assert.deepEqual(c2.router[DISC], [LB_AS], 'discovered: rank 0');
    assert.equal(c2.router[SORRY], null, 'only an excluded sorry server: 0 live');
    assert.equal(c2.router[NOSVC], null, 'no IPVS service at all: down');
    assert.match(c2.stderr, /2 realservers available behind 192\.0\.2\.10 > add route/);
    assert.match(c2.stderr, /2 realservers available behind 2001:db8::10 > add route/);
  });

  test('a held VIP stays withdrawn through watchdog cycles; a quiet cycle logs nothing', async (t) => {
    const h = await step(t, 'hold');
    if (!h) return;
    assert.equal(h.code, 0, ctx(h));
    assert.equal(h.router[HELD], null, ctx(h));
    const q = (await step(t, 'quiet'))!;
    assert.equal(q.code, 0, ctx(q));
    assert.deepEqual(acted(q), {}, ctx(q));
    assert.equal(q.stderr, '', 'nothing changed: nothing logged');
    assert.equal(q.router[HELD], null);
    assert.ok(changes(q).some((c) => c.prefix === HELD && c.reason === 'held for maintenance'), ctx(q));
    for (const name of ['port-down', 'recover-rise2', 'http-up-rise2']) assert.equal((await step(t, name))!.router[HELD], null, `${name}: held VIP came back`);
  });

  test("every real server of one port at weight 0 withdraws the VIP though its other port is healthy", async (t) => {
    const s = await step(t, 'port-down');
    if (!s) return;
    assert.equal(s.code, 0, ctx(s));
    assert.deepEqual(acted(s), { [API]: 'delete' }, ctx(s));
    assert.match(s.ipvs, /^TCP {2}C0000214:0050 rr/m, 'port 80 is still there');
    assert.match(s.stderr, /0 realservers available behind 192\.0\.2\.20 > delete route/);
    assert.equal(s.router[API], null, ctx(s));
    assert.deepEqual(s.router[W4], [LB_AS], 'other VIPs untouched');
  });

  test('recovery waits for restore_realservers, then for rise cycles', async (t) => {
    const one = await step(t, 'recover-one');
    if (!one) return;
    assert.deepEqual(acted(one), {}, ctx(one));
    assert.ok(changes(one).some((c) => c.prefix === API && /live 1 < restore 2/.test(c.reason)), ctx(one));
    assert.equal(one.router[API], null);
    const r1 = (await step(t, 'recover-rise1'))!;
    assert.deepEqual(acted(r1), {}, ctx(r1));
    assert.equal(r1.router[API], null);
    const r2 = (await step(t, 'recover-rise2'))!;
    assert.deepEqual(acted(r2), { [API]: 'add' }, ctx(r2));
    assert.deepEqual(r2.router[API], [LB_AS, LB_AS], ctx(r2));
  });

  test('an unreadable table changes nothing and exits non-zero (fail static)', async (t) => {
    const s = await step(t, 'unreadable');
    if (!s) return;
    assert.notEqual(s.code, 0, ctx(s));
    assert.match(s.stderr, /changing nothing \(fail static\)/);
    assert.deepEqual(acted(s), {}, ctx(s));
    assert.deepEqual(s.router[API], [LB_AS, LB_AS], 'api would be withdrawn from a readable table; it stays');
    assert.deepEqual(s.router[W4], [LB_AS]);
    const after = (await step(t, 'after-unreadable'))!;
    assert.equal(after.code, 0, ctx(after));
    assert.deepEqual(acted(after), {}, ctx(after));
  });

  test('keepalived: stopping the HTTP servers withdraws the VIP, starting them restores it', async (t) => {
    const down = await step(t, 'http-down');
    if (!down) return;
    t.diagnostic(`keepalived set both weights to 0 ${down.extra.kaDownMs} ms after the kill`);
    assert.equal(down.code, 0, ctx(down));
    assert.match(down.ipvs, /^TCP {2}C000020A:0050 rr/m, 'the service is still there, its real servers at weight 0');
    assert.deepEqual(acted(down), { [W4]: 'delete' }, ctx(down));
    assert.match(down.stderr, /0 realservers available behind 192\.0\.2\.10 > delete route/);
    assert.equal(down.router[W4], null, ctx(down));
    assert.deepEqual(down.router[W6], [LB_AS], 'the IPv6 VIP has its own healthy service');
    const up1 = (await step(t, 'http-up-rise1'))!;
    assert.equal(up1.router[W4], null, ctx(up1));
    const up2 = (await step(t, 'http-up-rise2'))!;
    assert.deepEqual(acted(up2), { [W4]: 'add' }, ctx(up2));
    assert.deepEqual(up2.router[W4], [LB_AS], ctx(up2));
  });

  test('status shows live counts, holds and watchdog states from the real table', async (t) => {
    const s = await step(t, 'status');
    if (!s) return;
    assert.equal(s.code, 0, ctx(s));
    const vips = (JSON.parse(s.stdout) as { vips: { prefix: string; live: number | null; watchdog: string; hold: unknown; announced: boolean }[] }).vips;
    const by = Object.fromEntries(vips.map((v) => [v.prefix, v]));
    assert.equal(by[W4]?.live, 2, ctx(s));
    assert.equal(by[W4]?.watchdog, 'up');
    assert.equal(by[API]?.live, 2);
    assert.equal(by[HELD]?.watchdog, 'held');
    assert.ok(by[HELD]?.hold);
    assert.equal(by[SORRY]?.live, 0);
    assert.equal(by[SORRY]?.watchdog, 'down');
  });

  test(`daemon --every 1s inside the VM: failover over ${TRIALS} trials, SIGTERM exits 0`, async (t) => {
    if (!(await step(t, 'status'))) return;
    const f = result!.failover;
    assert.ok(f, 'no failover figures');
    assert.equal(f.ms.length, TRIALS);
    t.diagnostic(`failover (VM, tcg): median ${pct(f.ms, 50)} ms, worst ${Math.max(...f.ms)} ms; restore median ${pct(f.restoreMs, 50)} ms`);
    assert.equal(result!.daemon?.exit, 0, result!.daemon?.log);
    assert.match(result!.daemon!.log, /watchdog stopped/);
    assert.match(result!.daemon!.log, /0 realservers available behind 192\.0\.2\.20 > delete route/);
  });
});

describe('keepalived restarted under the watchdog daemon (VM): the router never loses the VIPs', { concurrency: false }, () => {
  let vm: VmResult | null = null;
  let result: RestartResult | null = null;
  let skipWhy: string | null = null;

  before(async () => {
    const { missing } = await import('./prereq.ts');
    const miss = missing(NEEDS, { root: true });
    if (miss.length > 0) {
      skipWhy = `missing: ${miss.join(', ')}`;
      return;
    }
    const script = `set -u\nexec 2>&1\ncd "$LAB_CWD"\n${SNAPSHOT_DIST}\nnode --import tsx test/lab/vm/scenarios/keepalived-restart.mts\necho "scenario exit $?"\n`;
    vm = await runInVm(script, { timeoutMs: 900_000, memMb: 3072, env: { VM_KA_RESTARTS: String(RESTARTS) } });
    result = JSON.parse(await resultOf(vm)) as RestartResult;
    console.log(`# keepalived-restart VM: boot ${vm.bootMs} ms, whole run ${vm.durationMs} ms (stack up and VIPs announced ${result.setupMs} ms after the scenario started, restart loop ${result.loop?.ms} ms)`);
  });
  after(async () => {
    await vm?.cleanup();
  });

  const record = async (t: TestContext): Promise<RestartResult | null> => {
    if (!requireLab(t, NEEDS, { root: true })) return null;
    if (!(await requireVm(t))) return null;
    assert.ok(result, `no scenario result (${skipWhy ?? 'VM did not run'})`);
    assert.equal(result.error, undefined, `scenario failed: ${result.error}\n${vm?.output.slice(-4000)}`);
    return result;
  };
  const stats = (xs: number[]) => `${Math.min(...xs)}/${pct(xs, 50)}/${Math.max(...xs)}`;
  const doubted = (c: Cycle) => c.errors.includes('VIP_E_IPVS_IMPLAUSIBLE');

  test(`${RESTARTS} keepalived restarts under watchdog --every 1s with the default rise, fall and settle: no withdrawal`, async (t) => {
    const r = await record(t);
    if (!r) return;
    assert.deepEqual(r.watchdog, { ipvs: { source: 'proc', path: '/proc/net/ip_vs' } }, 'the defaults: no rise, fall or settle in the config');
    const loop = r.loop!;
    const rs = r.restarts;
    const withdrawals = Object.values(loop.withdrawals).reduce((a, b) => a + b, 0);
    const ctx = `${JSON.stringify(loop)}\n--- restarts\n${JSON.stringify(rs)}\n--- daemon log\n${r.daemon?.log.slice(-6000)}\n--- router bgpd\n${r.bgpLog}`;
    console.log(`# keepalived restarts: ${rs.length}; withdrawals seen at the router: ${withdrawals} (${loop.polls} polls of its BGP table on bgpd's vty socket, ${loop.pollMedianMs} ms median, ${loop.pollMaxMs} ms worst per poll of both VIPs, every 100 ms); withdrawing UPDATEs in its bgpd log: ${loop.bgpWithdrawn}; VIP routes deleted from its kernel table: ${loop.fibDeleted}; '> delete route' lines in the daemon's log: ${loop.deleteLines}`);
    console.log(`# IPVS table empty (headers only) per restart, ms min/median/max: ${stats(rs.map((x) => x.emptyMs))}; not the full table: ${stats(rs.map((x) => x.degradedMs))}; SIGTERM to exit: ${stats(rs.map((x) => x.termToExitMs))}; start to services back: ${stats(rs.map((x) => x.startToBackMs))}`);
    const shapes = new Map<string, number>();
    for (const x of rs) shapes.set(x.shapes.join(' -> '), (shapes.get(x.shapes.join(' -> ')) ?? 0) + 1);
    console.log(`# table shapes from SIGTERM to services back: ${[...shapes].map(([k, n]) => `${n}x [${k}]`).join('; ')}`);
    const inLoop = r.cycles!.filter((c) => c.t >= rs[0]!.t && c.t <= rs.at(-1)!.t + 60_000);
    const periods = inLoop.slice(1).map((c, k) => c.t - inLoop[k]!.t);
    console.log(`# daemon cycles during the loop: ${loop.cycles} (one every ${pct(periods, 50)} ms median, ${Math.max(...periods)} ms worst); not believing the table or a VIP: ${rs.reduce((a, x) => a + x.doubted, 0)} (per restart ${stats(rs.map((x) => x.doubted))}); believing a VIP falling (a half-built table read as too few live real servers): ${loop.falling}`);
    const worst = Math.max(...rs.map((x) => x.doubted));
    console.log(`# margin: the worst restart was doubted ${worst} cycle(s); an empty table is believed after settle = ${DEFAULTS.settle} and withdrawn fall = ${DEFAULTS.fall} cycles later, so a withdrawal needs ${DEFAULTS.settle + DEFAULTS.fall} cycles in a row without keepalived's services; restarts with a cycle believing a VIP falling (fall = ${DEFAULTS.fall} absorbed it): ${rs.filter((x) => x.reasons.some((y) => /^falling/.test(y))).map((x) => `#${x.i} [${x.shapes.join(' -> ')}]`).join(', ') || 'none'}`);
    assert.equal(rs.length, RESTARTS);
    // keepalived clears its virtual services on stop: every restart must have put the rule to work
    assert.ok(rs.every((x) => x.shapes.includes('empty')), `a restart without an empty table:\n${ctx}`);
    assert.ok(rs.some((x) => x.doubted > 0), `no cycle ever saw the emptied table:\n${ctx}`);
    assert.equal(withdrawals, 0, `the router lost a VIP:\n${ctx}`);
    assert.equal(loop.absentPolls, 0, ctx);
    assert.equal(loop.bgpWithdrawn, 0, ctx);
    assert.equal(loop.fibDeleted, 0, ctx);
    assert.equal(loop.deleteLines, 0, ctx);
    assert.equal(loop.addLines, 0, 'nothing was withdrawn, so nothing was added back');
  });

  test('control: keepalived stopped for good: both VIPs withdrawn after settle + fall cycles, every witness sees it', async (t) => {
    const r = await record(t);
    if (!r) return;
    const c = r.control!;
    const seq = c.cyclesToDelete;
    const first = seq.findIndex(doubted);
    const del = seq.findIndex((x) => Object.values(x.acted).includes('delete'));
    const ctx = `${JSON.stringify({ ...c, cyclesToDelete: undefined })}\n--- cycles\n${JSON.stringify(seq)}\n--- daemon log\n${r.daemon?.log.slice(-4000)}`;
    console.log(`# control: keepalived stopped (SIGTERM to exit ${c.termToExitMs} ms); the router lost the VIPs ${Object.values(c.goneMs).join('/')} ms after its exit; cycles from the first doubted one: ${seq.slice(Math.max(0, first)).map((x) => (doubted(x) ? 'not believed' : (Object.values(x.acted)[0] ?? Object.values(x.reasons)[0]))).join(', ')}; withdrawals: poll ${Object.values(c.withdrawals).reduce((a, b) => a + b, 0)}, bgpd ${c.bgpWithdrawn}, FIB ${c.fibDeleted}, log ${c.deleteLines}`);
    assert.ok(Object.values(c.goneMs).every((v) => v !== null), `the VIPs stayed announced:\n${ctx}`);
    assert.ok(first >= 0 && del > first, ctx);
    assert.ok(seq.slice(first, first + DEFAULTS.settle).every(doubted), `settle: the table is not believed for ${DEFAULTS.settle} cycles\n${ctx}`);
    // settle cycles doubted, then fall believed cycles with 0 live: the last of them withdraws
    assert.ok(del - first >= DEFAULTS.settle + DEFAULTS.fall - 1, `withdrawn too early\n${ctx}`);
    assert.ok(del - first <= DEFAULTS.settle + DEFAULTS.fall, `withdrawn too late\n${ctx}`);
    assert.deepEqual(seq[del]!.acted, { '192.0.2.10/32': 'delete', '192.0.2.11/32': 'delete' }, ctx);
    // the witnesses that saw nothing during the loop do see this
    for (const [p, n] of Object.entries(c.withdrawals)) assert.equal(n, 1, `${p}: ${ctx}`);
    assert.equal(c.bgpWithdrawn, 2, ctx);
    assert.equal(c.fibDeleted, 2, ctx);
    assert.equal(c.deleteLines, 2, ctx);
    assert.equal(r.daemon?.exit, 0, r.daemon?.log);
  });
});
