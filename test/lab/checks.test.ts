// Host health checks on the host lab (real FRR lb + router): busybox httpd, a hung server and dnsmasq run
// inside the LB namespace, and so does the watchdog (ip netns exec), as it would on a service host
// announcing its own VIPs. Killing the HTTP server withdraws the service's VIPs (v4 and v6) and
// restarting restores them; a 404 fails; a hung server fails by its timeout; an exec check's exit
// code drives it; live_from both needs IPVS (a /proc-format file) and its checks; the daemon
// withdraws within about two check intervals (measured and printed).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { BIN, describeRun, jsonOf, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import { formatProcIpVs } from '../../bench/gen-ipvs.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq', 'busybox'];
const WEB4 = '192.0.2.80';
const WEB6 = '2001:db8::80';
const BOTH = '192.0.2.81';
const EXEC = '192.0.2.82';
const P = { web4: `${WEB4}/32`, web6: `${WEB6}/128`, both: `${BOTH}/32`, exec: `${EXEC}/32` };
// a fresh namespace: every port is free there
const HTTP_PORT = 18080;
const HUNG_PORT = 18081;
const DNS_PORT = 15353;

describe('host health checks on the host lab', { concurrency: false }, () => {
  let lab: BgpLab;
  let dir: string;
  let www: string;
  let cfg: string;
  let table: string;
  let exitFile: string;
  let base: Record<string, unknown>;
  const kids = new Set<ChildProcess>();
  let httpd: ChildProcess | null = null;

  const inNs = (argv: string[]) => {
    const c = spawn('ip', ['netns', 'exec', lab.lbs.par1!.ns, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    kids.add(c);
    c.once('exit', () => kids.delete(c));
    return c;
  };
  const stopKid = async (c: ChildProcess | null) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };
  const startHttpd = async () => {
    httpd = inNs(['busybox', 'httpd', '-f', '-p', `127.0.0.1:${HTTP_PORT}`, '-h', www]);
    await sleep(300);
  };
  const setTable = async (weights: number[]) => {
    const reals = weights.map((weight, i) => ({ address: `203.0.113.${i + 1}`, port: 80, forward: 'route' as const, weight, active: 0, inactive: 0 }));
    await writeFile(`${table}.tmp`, formatProcIpVs({ services: [{ kind: 'tcp', vip: BOTH, port: 80, fwmark: null, scheduler: 'rr', persistent: null, flags: [], reals }], warnings: [], malformed: [] }));
    await rename(`${table}.tmp`, table);
  };
  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  /** the command as it runs on the service host: inside the LB namespace */
  const cli = (config: string, ...args: string[]) => runCli(['-c', config, ...args], { prefix: ['ip', 'netns', 'exec', lab.lbs.par1!.ns] });
  const up = (p: string) => lab.waitRoute(p, (x) => x?.best != null);
  const down = (p: string) => lab.waitRoute(p, (x) => x === null || x.best === null);
  const isUp = async (p: string) => (await lab.routerRoute(p))?.best != null;

  const services = (webUrl = `http://127.0.0.1:${HTTP_PORT}/health`, webTimeout = '1s') => [
    {
      name: 'web.chk.test', prefer: ['par1', 'lon1'], live_from: 'checks',
      checks: [
        { type: 'http', url: webUrl, expect: 'ok', timeout: webTimeout, interval: '500ms' },
        { type: 'dns', server: `127.0.0.1:${DNS_PORT}`, name: 'health.chk.test', timeout: '1s' },
      ],
    },
    { name: 'both.chk.test', prefer: ['par1', 'lon1'], live_from: 'both', checks: [{ type: 'http', url: `http://127.0.0.1:${HTTP_PORT}/both`, timeout: '1s' }] },
    { name: 'exec.chk.test', prefer: ['par1', 'lon1'], live_from: 'checks', checks: [{ type: 'exec', argv: [join(dir, 'check.sh'), exitFile], timeout: '2s' }] },
  ];

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-chk-'));
    await chmod(dir, 0o755);
    www = join(dir, 'www');
    await mkdir(www);
    await writeFile(join(www, 'health'), 'ok\n');
    await writeFile(join(www, 'both'), 'ok\n');
    exitFile = join(dir, 'exit');
    await writeFile(exitFile, '0');
    await writeFile(join(dir, 'check.sh'), '#!/bin/sh\necho "exit code from $1" >&2\nexit "$(cat "$1")"\n');
    await chmod(join(dir, 'check.sh'), 0o755);
    table = join(dir, 'ip_vs');
    await setTable([1, 1]);
    lab = await createBgpLab({ lbs: [{ name: 'par1', asn: 64512, vips: [WEB4, WEB6, BOTH, EXEC] }], router: { asn: 65000 } });
    await startHttpd();
    // accepts connections and never answers
    inNs([process.execPath, '-e', `require('net').createServer(() => {}).listen(${HUNG_PORT}, '127.0.0.1')`]);
    inNs([
      'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file=', `--port=${DNS_PORT}`,
      '--listen-address=127.0.0.1', '--bind-interfaces', '--local-ttl=1', '--local=/chk.test/', '--user=root',
      `--host-record=web.chk.test,${WEB4},${WEB6}`, `--host-record=both.chk.test,${BOTH}`, `--host-record=exec.chk.test,${EXEC}`, '--host-record=health.chk.test,192.0.2.9',
    ]);
    await sleep(500);
    base = labConfig({
      dc: 'par1',
      pathspace: lab.lbs.par1!.pathspace,
      dnsPort: DNS_PORT,
      stateDir: join(dir, 'state'),
      datacenters: { par1: 64512, lon1: 64513 },
      extra: { watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: table }, metrics_file: join(dir, 'vip_mgmt.prom') } },
    });
    base.services = services();
    cfg = await writeConfig(dir, base);
  });
  after(async () => {
    for (const c of [...kids]) await stopKid(c);
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('config check passes; a missing exec program and a bad URL are configuration errors (exit 3)', async (t) => {
    if (!gate(t)) return;
    const ok = await cli(cfg, 'config', 'check');
    assert.equal(ok.code, 0, describeRun(ok));
    const bad = structuredClone(base) as { services: { checks: Record<string, unknown>[] }[] };
    bad.services[2]!.checks[0]!.argv = [join(dir, 'no-such-check')];
    bad.services[1]!.checks[0]!.url = 'http//127.0.0.1/both';
    const badCfg = await writeConfig(dir, bad, 'bad.yaml');
    const r = await cli(badCfg, 'config', 'check');
    assert.equal(r.code, 3, describeRun(r));
    assert.match(r.stdout, /services\[1\]\.checks\[0\]\.url: invalid URL/);
    const w = await cli(badCfg, 'watchdog');
    assert.equal(w.code, 3, describeRun(w));
  });

  test('one cycle announces every service whose checks pass (v4 and v6), with IPVS for live_from both', async (t) => {
    if (!gate(t)) return;
    const r = await cli(cfg, 'watchdog');
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stderr, /192\.0\.2\.80: checks passing > add route/);
    assert.match(r.stderr, /2 realservers available behind 192\.0\.2\.81, checks passing > add route/);
    for (const p of Object.values(P)) await up(p);
    const prom = readFile(join(dir, 'vip_mgmt.prom'), 'utf8');
    assert.match(await prom, /^vip_mgmt_check_success\{service="web\.chk\.test",type="http",check="http http:\/\/127\.0\.0\.1:18080\/health"\} 1$/m);
    assert.match(await prom, /^vip_mgmt_check_duration_seconds\{service="exec\.chk\.test",type="exec",check="exec .*check\.sh .*"\} [0-9.]+$/m);
  });

  test('killing the HTTP server withdraws the VIPs (v4 and v6), naming the check; restarting restores them', async (t) => {
    if (!gate(t)) return;
    await stopKid(httpd);
    const r = await cli(cfg, 'watchdog');
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stderr, /192\.0\.2\.80: failing check http http:\/\/127\.0\.0\.1:18080\/health: ECONNREFUSED > delete route/);
    await down(P.web4);
    await down(P.web6);
    // both.chk.test's check is on the same server: it goes too, whatever IPVS says
    await down(P.both);
    assert.ok(await isUp(P.exec), 'the exec service is not touched');
    const st = await cli(cfg, 'status', '--json');
    const row = jsonOf<{ vips: { prefix: string; failing?: string[] }[] }>(st).vips.find((v) => v.prefix === P.web4);
    assert.deepEqual(row?.failing, ['http http://127.0.0.1:18080/health: ECONNREFUSED'], describeRun(st));
    await startHttpd();
    const back = await cli(cfg, 'watchdog');
    assert.equal(back.code, 0, describeRun(back));
    await up(P.web4);
    await up(P.web6);
    await up(P.both);
  });

  test('a 404 fails; a hung server fails by its timeout', async (t) => {
    if (!gate(t)) return;
    await rm(join(www, 'health'));
    try {
      const r = await cli(cfg, 'watchdog');
      assert.match(r.stderr, /failing check http http:\/\/127\.0\.0\.1:18080\/health: HTTP 404 > delete route/, describeRun(r));
      await down(P.web4);
    } finally {
      await writeFile(join(www, 'health'), 'ok\n');
    }
    assert.equal((await cli(cfg, 'watchdog')).code, 0);
    await up(P.web4);
    const hung = await writeConfig(dir, { ...base, services: services(`http://127.0.0.1:${HUNG_PORT}/health`, '700ms') }, 'hung.yaml');
    const r = await cli(hung, 'watchdog');
    assert.match(r.stderr, /failing check http http:\/\/127\.0\.0\.1:18081\/health: timeout after 700ms > delete route/, describeRun(r));
    assert.ok(r.ms < 10_000, `the cycle is bounded by the check's timeout (${r.ms.toFixed(0)} ms)`);
    await down(P.web4);
    assert.equal((await cli(cfg, 'watchdog')).code, 0);
    await up(P.web4);
  });

  test("an exec check's exit code drives its service", async (t) => {
    if (!gate(t)) return;
    await writeFile(exitFile, '3');
    const r = await cli(cfg, 'watchdog');
    assert.match(r.stderr, /192\.0\.2\.82: failing check exec .*check\.sh .*: exit 3 \(exit code from .*\) > delete route/, describeRun(r));
    await down(P.exec);
    await writeFile(exitFile, '0');
    const back = await cli(cfg, 'watchdog');
    assert.match(back.stderr, /192\.0\.2\.82: checks passing > add route/, describeRun(back));
    await up(P.exec);
  });

  test('live_from both needs IPVS and its checks', async (t) => {
    if (!gate(t)) return;
    await setTable([0, 0]);
    const r = await cli(cfg, 'watchdog');
    assert.match(r.stderr, /0 realservers available behind 192\.0\.2\.81, checks passing > delete route/, describeRun(r));
    await down(P.both);
    assert.ok(await isUp(P.web4), 'the checks-only services do not read IPVS');
    await setTable([1, 1]);
    assert.match((await cli(cfg, 'watchdog')).stderr, /> add route/);
    await up(P.both);
    await rm(join(www, 'both'));
    try {
      const f = await cli(cfg, 'watchdog');
      assert.match(f.stderr, /2 realservers available behind 192\.0\.2\.81, failing check http http:\/\/127\.0\.0\.1:18080\/both: HTTP 404 > delete route/, describeRun(f));
      await down(P.both);
    } finally {
      await writeFile(join(www, 'both'), 'ok\n');
    }
    await cli(cfg, 'watchdog');
    await up(P.both);
  });

  test('daemon: a failing check withdraws within about two check intervals, not the daemon period', async (t) => {
    if (!gate(t)) return;
    // fall 2: the first failing result and the next one (500 ms later) make the two cycles
    const daemonCfg = await writeConfig(dir, { ...base, watchdog: { ...(base.watchdog as object), rise: 1, fall: 2 } }, 'daemon.yaml');
    const child = spawn('ip', ['netns', 'exec', lab.lbs.par1!.ns, process.execPath, BIN, '-c', daemonCfg, 'watchdog', '--every', '30s'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    kids.add(child);
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    try {
      for (let i = 0; i < 100 && !/watchdog running/.test(log); i++) await sleep(100);
      await sleep(1500); // its first cycles have run
      assert.ok(await isUp(P.web4), log);
      const t0 = performance.now();
      await stopKid(httpd);
      await lab.waitRoute(P.web4, (x) => x === null || x.best === null, 20_000);
      const withdrawn = performance.now() - t0;
      await startHttpd();
      const t1 = performance.now();
      await lab.waitRoute(P.web4, (x) => x?.best != null, 20_000);
      const restored = performance.now() - t1;
      t.diagnostic(`daemon: withdrawn ${withdrawn.toFixed(0)} ms after the HTTP server died (check interval 500 ms, fall 2, period 30 s); restored ${restored.toFixed(0)} ms after it came back (rise 1)`);
      assert.ok(withdrawn < 6000, `withdrawn in ${withdrawn.toFixed(0)} ms: far less than the 30 s period\n${log}`);
      assert.match(log, /failing check http http:\/\/127\.0\.0\.1:18080\/health: ECONNREFUSED > delete route/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
  });
});
