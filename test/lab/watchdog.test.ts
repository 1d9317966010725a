// The watchdog's run rules on the host lab (real FRR lb + router, real dnsmasq), reading an IPVS
// table in /proc/net/ip_vs format from a file (the host kernel has no IPVS; the VM test covers the
// real kernel): lock busy exits 75 quietly, DNS failure falls back to the last good answer,
// discover, the daemon (--schedule with seconds, SIGHUP reload, SIGTERM exits 0), and `watchdog --now`
// (SIGUSR1 to the daemon found through state_dir/watchdog.pid, or one cycle here).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { BIN, describeRun, jsonOf, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import { createStateStore } from '../../src/adapters/state.ts';
import { ipvsService, ipvsTable, writeIpvsTable } from '../fixtures/ipvs-tables.ts';
import { formatPidRecord, startTimeOf } from '../../src/core/pidfile.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq'];
const SVC = '192.0.2.70';
const DISC = '192.0.2.71';
const P_SVC = `${SVC}/32`;
const P_DISC = `${DISC}/32`;

describe('watchdog run rules and daemon on the host lab', { concurrency: false }, () => {
  let lab: BgpLab;
  let dns: LabDns;
  let dir: string;
  let cfg: string;
  let table: string;
  let base: Record<string, unknown>;

  /** Replace the table file atomically, as the kernel's view changes at once. */
  const setTable = async (svcWeights: number[], discWeights: number[] = [1, 1]) => {
    await writeIpvsTable(table, ipvsTable([ipvsService(SVC, svcWeights, 80), ipvsService(DISC, discWeights, 443)]));
  };
  const present = async (p: string) => (await lab.routerRoute(p))?.best != null;
  const pidFile = () => join(dir, 'state', 'watchdog.pid');
  const pidInFile = async () => JSON.parse(await readFile(pidFile(), 'utf8')).pid as number;

  /** `vip-mgmt -c CFG ARGS...` as a long-running child (stdout and stderr kept); stop() ends it with
   *  SIGTERM and returns its exit code, kill() with SIGKILL. */
  const daemon = (...args: string[]) => {
    const child = spawn(process.execPath, [BIN, '-c', cfg, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    return {
      child,
      exited,
      log: () => log,
      async until(re: RegExp, what: string) {
        for (let i = 0; i < 150 && !re.test(log); i++) await sleep(100);
        assert.match(log, re, `${what}\n${log}`);
      },
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return exited;
      },
      async kill() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
  };
  /** Start a `watchdog --every 60s` daemon and wait until its first cycle is done (its metrics file
   *  is written after each cycle): a table change after this is the daemon's next cycle's to see. */
  const daemon60 = async () => {
    await unlink(join(dir, 'vip_mgmt.prom')).catch(() => undefined);
    const d = daemon('watchdog', '--every', '60s', '-v');
    for (let i = 0; i < 150 && !(await stat(join(dir, 'vip_mgmt.prom')).catch(() => null)); i++) await sleep(100);
    assert.ok(await stat(join(dir, 'vip_mgmt.prom')).catch(() => null), `the daemon's first cycle did not finish\n${d.log()}`);
    return d;
  };
  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const cli = (...args: string[]) => runCli(['-c', cfg, ...args]);

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-wd-'));
    table = join(dir, 'ip_vs');
    await setTable([1, 1]);
    dns = await startDnsmasq({ records: { hosts: [['svc.wd.test', SVC]] }, ttl: 1 });
    lab = await createBgpLab({ lbs: [{ name: 'par1', asn: 64512, vips: [SVC, DISC] }], router: { asn: 65000 } });
    base = labConfig({
      dc: 'par1',
      pathspace: lab.lbs.par1!.pathspace,
      dnsPort: dns.port,
      stateDir: join(dir, 'state'),
      datacenters: { par1: 64512, lon1: 64513 },
      services: [{ name: 'svc.wd.test', prefer: ['par1', 'lon1'], min_realservers: 1, restore_realservers: 1 }],
      // one cycle per change: these tests are about the run rules; the settle/rise/fall defaults are test/lab/safety.test.ts's
      extra: { watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: table }, discover: true, metrics_file: join(dir, 'vip_mgmt.prom') } },
    });
    cfg = await writeConfig(dir, base);
  });
  after(async () => {
    await lab?.destroy();
    await dns?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('one cycle announces the listed VIP and, with discover, an unlisted IPVS VIP at rank 0', async (t) => {
    if (!gate(t)) return;
    const r = await cli('watchdog', '--json');
    assert.equal(r.code, 0, describeRun(r));
    const acted = jsonOf<{ changes: { prefix: string; action: string }[] }>(r).changes.filter((c) => c.action !== 'none');
    assert.deepEqual(acted.map((c) => `${c.prefix} ${c.action}`).sort(), [`${P_SVC} add`, `${P_DISC} add`]);
    await lab.waitRoute(P_SVC, (x) => x?.best != null);
    await lab.waitRoute(P_DISC, (x) => x?.best != null);
    assert.match(await lab.lbs.par1!.vtysh(['show running-config']), new RegExp(`network ${P_DISC.replace('.', '\\.')} route-map VIP-RANK-0`));
    // node_exporter's textfile: written after the cycle
    const prom = await readFile(join(dir, 'vip_mgmt.prom'), 'utf8');
    assert.match(prom, /^vip_mgmt_vip_announced\{vip="192\.0\.2\.70",prefix="192\.0\.2\.70\/32",names="svc\.wd\.test"\} 1$/m, prom);
    assert.match(prom, /^vip_mgmt_vip_live_realservers\{vip="192\.0\.2\.71",prefix="192\.0\.2\.71\/32",names=""\} 2$/m, prom);
    assert.match(prom, /^vip_mgmt_watchdog_exit_code 0$/m);
    // --dry-run changes nothing, the metrics file included
    await setTable([0, 0]);
    try {
      const dry = await cli('watchdog', '--dry-run');
      assert.equal(dry.code, 0, describeRun(dry));
      assert.match(dry.stdout, /192\.0\.2\.70\/32\s+delete/);
      assert.equal(await readFile(join(dir, 'vip_mgmt.prom'), 'utf8'), prom);
    } finally {
      await setTable([1, 1]);
    }
  });

  test('lock busy: the cycle exits 75 and prints nothing (cron overlap is normal)', async (t) => {
    if (!gate(t)) return;
    const held = await createStateStore(join(dir, 'state')).lock();
    try {
      await setTable([0, 0]);
      const r = await cli('watchdog');
      assert.equal(r.code, 75, describeRun(r));
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, '');
      assert.ok(await present(P_SVC), 'nothing was done while the lock was held');
    } finally {
      await held.release();
      await setTable([1, 1]);
    }
  });

  test('DNS down: the last good answer is used (logged) and the watchdog still withdraws', async (t) => {
    if (!gate(t)) return;
    await dns.stop();
    try {
      await sleep(5500); // past the cache's 5 s TTL floor: the cycle must ask and fail
      await setTable([0, 0]);
      const r = await cli('watchdog');
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stderr, /resolving svc\.wd\.test .*; using the last good answer from \d{4}-/);
      assert.match(r.stderr, /0 realservers available behind 192\.0\.2\.70 > delete route/);
      await lab.waitRoute(P_SVC, (x) => x === null || x.best === null);
    } finally {
      await dns.restart();
      await setTable([1, 1]);
    }
    const back = await cli('watchdog');
    assert.equal(back.code, 0, describeRun(back));
    assert.match(back.stderr, /1 realservers available behind 192\.0\.2\.70 > add route|2 realservers available behind 192\.0\.2\.70 > add route/);
    await lab.waitRoute(P_SVC, (x) => x?.best != null);
  });

  test('daemon: --schedule with seconds withdraws on its own, SIGHUP reloads the config, SIGTERM exits 0', async (t) => {
    if (!gate(t)) return;
    const d = daemon('watchdog', '--schedule', '* * * * * *');
    const until = d.until;
    try {
      await until(/watchdog running on schedule/, 'daemon start');
      await setTable([0, 0]);
      await lab.waitRoute(P_SVC, (x) => x === null || x.best === null);
      await setTable([1, 1]);
      await lab.waitRoute(P_SVC, (x) => x?.best != null);

      // Raise the service's threshold above its 2 live real servers: after SIGHUP it is withdrawn.
      await writeConfig(dir, { ...base, services: [{ name: 'svc.wd.test', prefer: ['par1', 'lon1'], min_realservers: 3, restore_realservers: 3 }] });
      d.child.kill('SIGHUP');
      await until(/configuration reloaded from/, 'reload');
      await lab.waitRoute(P_SVC, (x) => x === null || x.best === null);
      assert.match(d.log(), /2 realservers available behind 192\.0\.2\.70 > delete route/);

      // A broken config on SIGHUP is refused and the daemon keeps the previous one.
      await writeFile(cfg, 'dc: [not, a, name\n');
      d.child.kill('SIGHUP');
      await until(/reload failed, keeping the previous configuration/, 'bad reload');

      assert.equal(await d.stop(), 0, d.log());
      assert.match(d.log(), /watchdog stopped/);
    } finally {
      await d.kill();
      await writeConfig(dir, base);
    }
  });

  // These run on the suite's fall 1 / rise 1: one --now is one cycle, so one cycle must be enough to
  // act. Under the default fall 2 a single --now only counts the first unhealthy cycle and the
  // withdrawal waits for the next periodic one (or a second --now); README says which to choose.

  test('--now: a daemon on --every 60s withdraws within 10 s of the last real server going to weight 0 and restores the same way; its pid file is 0600 and gone after SIGTERM', async (t) => {
    if (!gate(t)) return;
    await setTable([1, 0]); // one live real server left
    const d = await daemon60();
    try {
      await lab.waitRoute(P_SVC, (x) => x?.best != null);
      assert.equal(await pidInFile(), d.child.pid);
      assert.equal((await stat(pidFile())).mode & 0o777, 0o600);

      await setTable([0, 0]); // its weight goes to 0, as keepalived does before it runs notify_down
      const t0 = performance.now();
      const r = await cli('watchdog', '--now');
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stdout, new RegExp(`^watchdog daemon pid ${d.child.pid} \\(running since \\d{4}-[^)]+\\) signalled: it runs a cycle now$`, 'm'));
      await lab.waitRoute(P_SVC, (x) => x === null || x.best === null, 10_000);
      const withdrawn = performance.now() - t0;
      assert.ok(withdrawn < 10_000, `withdrawn ${withdrawn.toFixed(0)} ms after --now; the next periodic cycle is ~60 s away`);
      assert.match(d.log(), /running a cycle now: asked for with SIGUSR1/);
      assert.match(d.log(), /0 realservers available behind 192\.0\.2\.70 > delete route/);

      await setTable([1, 1]);
      const t1 = performance.now();
      const back = await cli('--json', 'watchdog', '--now');
      assert.equal(back.code, 0, describeRun(back));
      assert.deepEqual(Object.keys(jsonOf(back).signalled).sort(), ['pid', 'pidFile', 'since']);
      await lab.waitRoute(P_SVC, (x) => x?.best != null, 10_000);
      assert.ok(performance.now() - t1 < 10_000);
      t.diagnostic(`--now -> withdrawn at the router ${withdrawn.toFixed(0)} ms, restored ${(performance.now() - t1).toFixed(0)} ms (period 60 s)`);

      // --dry-run never signals (the daemon would act): it shows what one cycle would do, here
      const asked = (d.log().match(/running a cycle now/g) ?? []).length;
      await setTable([0, 0]);
      const dry = await cli('watchdog', '--now', '--dry-run');
      assert.equal(dry.code, 0, describeRun(dry));
      assert.match(dry.stderr, new RegExp(`--dry-run: watchdog daemon pid ${d.child.pid} is not signalled \\(it would act\\)`));
      assert.match(dry.stdout, /192\.0\.2\.70\/32\s+delete/);
      await sleep(1000);
      assert.equal((d.log().match(/running a cycle now/g) ?? []).length, asked, 'the daemon ran no cycle');
      assert.ok(await present(P_SVC));
      await setTable([1, 1]);

      assert.equal(await d.stop(), 0, d.log());
      assert.equal(await stat(pidFile()).catch(() => null), null, 'SIGTERM removes the pid file');
    } finally {
      await d.kill();
      await setTable([1, 1]);
    }
  });

  test('two daemons on one state_dir: the second exits 75 naming the first; a SIGKILLed daemon leaves its pid file, which --now and the next daemon see is dead', async (t) => {
    if (!gate(t)) return;
    const first = await daemon60();
    let next: Awaited<ReturnType<typeof daemon60>> | null = null;
    try {
      assert.equal(await pidInFile(), first.child.pid);
      const second = await runCli(['-c', cfg, 'watchdog', '--every', '60s'], { timeoutMs: 20_000 });
      assert.equal(second.code, 75, describeRun(second));
      assert.match(second.stderr, new RegExp(`a watchdog daemon already runs on state_dir \\S+ \\(pid ${first.child.pid}, since .*watchdog --now.*\\[VIP_E_DAEMON_RUNNING\\]`));
      assert.equal(await pidInFile(), first.child.pid, 'the first keeps its pid file');
      assert.equal(first.child.exitCode, null);

      await first.kill(); // no clean exit: the pid file stays, naming a dead pid
      assert.equal(await pidInFile(), first.child.pid);
      const now = await cli('watchdog', '--now');
      assert.equal(now.code, 0, describeRun(now));
      assert.match(now.stderr, new RegExp(`no watchdog daemon runs \\(pid ${first.child.pid} is not running .*\\): running one cycle here`));

      next = await daemon60();
      assert.equal(await pidInFile(), next.child.pid);
      assert.match(next.log(), new RegExp(`replaced the pid file of a daemon that is gone: pid ${first.child.pid} is not running`));
      assert.equal(await next.stop(), 0, next.log());
      assert.equal(await stat(pidFile()).catch(() => null), null);
    } finally {
      await first.kill();
      await next?.kill();
    }
  });

  test('--now with no daemon runs one cycle here; stale pid files (a dead pid, a live sleep, a live look-alike with another start time) are never signalled', async (t) => {
    if (!gate(t)) return;
    await unlink(pidFile()).catch(() => undefined);
    await setTable([0, 0]);
    const r = await cli('watchdog', '--now');
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no watchdog daemon runs \(no pid file \S+watchdog\.pid\): running one cycle here/);
    assert.match(r.stderr, /0 realservers available behind 192\.0\.2\.70 > delete route/);
    await lab.waitRoute(P_SVC, (x) => x === null || x.best === null);
    await setTable([1, 1]);

    // SIGUSR1's default action kills sleep and bash: a process still alive afterwards was not signalled
    const kids: ChildProcess[] = [];
    const live = async (argv: string[]) => {
      const c = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'ignore', 'ignore'] });
      kids.push(c);
      await sleep(200); // exec done: /proc shows its own command line
      return c;
    };
    const startOf = async (pid: number) => startTimeOf(await readFile(`/proc/${pid}/stat`, 'utf8'))!;
    try {
      const gone = spawn('true');
      await new Promise((res) => gone.once('exit', res));
      const sleeper = await live(['sleep', '300']);
      // its command line passes, its start time does not; the read builtin (on a pipe never written)
      // leaves no child behind when it is killed
      const lookalike = await live(['bash', '-c', 'read -t 300; :', BIN, 'watchdog']);
      const cases: [string, number, number, RegExp][] = [
        ['dead pid', gone.pid!, 1, new RegExp(`pid ${gone.pid} is not running`)],
        ['live sleep', sleeper.pid!, await startOf(sleeper.pid!), new RegExp(`pid ${sleeper.pid} is not a vip-mgmt watchdog \\(its command line: \\\\?"sleep 300`)],
        ['reused pid', lookalike.pid!, (await startOf(lookalike.pid!)) - 1, new RegExp(`pid ${lookalike.pid} is another process now \\(the pid was reused`)],
      ];
      for (const [what, pid, start, why] of cases) {
        await writeFile(pidFile(), formatPidRecord({ pid, start, since: '2026-12-01T00:00:00.000Z' }), { mode: 0o600 });
        const run = await cli('--json', 'watchdog', '--now');
        assert.equal(run.code, 0, `${what}: ${describeRun(run)}`);
        assert.ok(Array.isArray(jsonOf(run).changes), `${what}: the cycle ran here`);
        assert.match(run.stderr, why, what);
      }
      await sleep(200);
      assert.equal(sleeper.exitCode ?? sleeper.signalCode, null, 'sleep was not signalled');
      assert.equal(lookalike.exitCode ?? lookalike.signalCode, null, 'the look-alike was not signalled');
      // and the cycles ran here: the first of them restored the route (rise 1)
      await lab.waitRoute(P_SVC, (x) => x?.best != null);
    } finally {
      for (const k of kids) k.kill('SIGKILL');
      await unlink(pidFile()).catch(() => undefined);
    }
  });
});
