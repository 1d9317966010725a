// The watchdog on a real IPVS kernel: keepalived health-checking busybox httpd real servers into
// IPVS, FRR lb + router, dnsmasq, all in one VM boot (scenario: vm/scenarios/watchdog.mts).
import { describe, before, after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireLab } from './prereq.ts';
import { FRR_LAB_COMMANDS } from './frr.ts';
import { requireVm, runInVm, VM_COMMANDS, type VmResult } from './vm/index.ts';

const NEEDS = [...VM_COMMANDS, ...FRR_LAB_COMMANDS, 'dnsmasq', 'keepalived', 'ipvsadm', 'busybox'];
const TRIALS = Number(process.env.VIP_LAB_FAILOVER_TRIALS ?? 3);

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
    const script = `set -u\nexec 2>&1\ncd "$LAB_CWD"\nnode --import tsx test/lab/vm/scenarios/watchdog.mts\necho "scenario exit $?"\n`;
    vm = await runInVm(script, { timeoutMs: 900_000, memMb: 3072, env: { VM_FAILOVER_TRIALS: String(TRIALS) } });
    result = JSON.parse(await readFile(join(vm.outDir, 'result.json'), 'utf8')) as Result;
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
