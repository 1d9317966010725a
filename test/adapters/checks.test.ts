// The check runner against real servers on loopback: node http/https servers (2xx, 404, a body, a hung
// server, a private CA), a TCP listener, dnsmasq, and real processes for exec (exit code, process group
// killed on timeout); the daemon's scheduler reports a change at once; config check's runnable probe.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAllChecks, runCheck, scheduleChecks, unrunnableChecks } from '../../src/adapters/checks.ts';
import type { CheckConfig } from '../../src/core/checks.ts';
import { startDnsmasq, type LabDns } from '../lab/dnsmasq.ts';
import { skipOutsideCI, which } from '../lab/prereq.ts';

const listen = (srv: net.Server) => new Promise<number>((res) => srv.listen(0, '127.0.0.1', () => res((srv.address() as net.AddressInfo).port)));

describe('host health checks on loopback', () => {
  let dir: string;
  let port: number;
  let hungPort: number;
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  let status = 200;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vip-checks-'));
    const srv = http.createServer((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : status, { 'content-type': 'text/plain' });
      res.end(req.url === '/body' ? 'status: all good\n' : 'hello\n');
    });
    port = await listen(srv);
    // accepts the connection and never answers, as a wedged server does
    const hung = net.createServer((s) => void sockets.add(s));
    hungPort = await listen(hung);
    servers.push(srv, hung);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
    await rm(dir, { recursive: true, force: true });
  });
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  test('http: 2xx passes, 404 and 503 fail naming the status, a body substring, a hung server fails by its timeout', async () => {
    assert.deepEqual(pick(await runCheck({ type: 'http', url: url('/'), timeout: 1000 })), [true, 'HTTP 200']);
    assert.deepEqual(pick(await runCheck({ type: 'http', url: url('/missing'), timeout: 1000 })), [false, 'HTTP 404']);
    status = 503;
    assert.deepEqual(pick(await runCheck({ type: 'http', url: url('/'), timeout: 1000 })), [false, 'HTTP 503']);
    status = 200;
    assert.deepEqual(pick(await runCheck({ type: 'http', url: url('/body'), expect: 'all good', timeout: 1000 })), [true, 'HTTP 200']);
    assert.deepEqual(pick(await runCheck({ type: 'http', url: url('/body'), expect: 'degraded', timeout: 1000 })), [false, 'HTTP 200, body lacks "degraded"']);
    const t0 = performance.now();
    const hung = await runCheck({ type: 'http', url: `http://127.0.0.1:${hungPort}/`, timeout: 300 });
    const took = performance.now() - t0;
    assert.deepEqual(pick(hung), [false, 'timeout after 300ms']);
    assert.ok(took >= 290 && took < 2000, `bounded by its timeout: ${took} ms`);
  });

  test('https with a CA option: trusted with the private CA, refused without it', async (t) => {
    if (!which('openssl')) return void skipOutsideCI(t, 'openssl not installed');
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const srv = https.createServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => res.end('ok'));
    const p = await listen(srv);
    servers.push(srv);
    const u = `https://127.0.0.1:${p}/health`;
    assert.deepEqual(pick(await runCheck({ type: 'http', url: u, ca: cert, timeout: 2000 })), [true, 'HTTP 200']);
    const untrusted = await runCheck({ type: 'http', url: u, timeout: 2000 });
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.detail, /SELF_SIGNED|UNABLE_TO_VERIFY|self.signed/i);
  });

  test('tcp: connect passes, a closed port fails with the reason', async () => {
    assert.deepEqual(pick(await runCheck({ type: 'tcp', target: { host: '127.0.0.1', port }, timeout: 1000 })), [true, 'connected']);
    const free = net.createServer();
    const fp = await listen(free);
    await new Promise((r) => free.close(r));
    assert.deepEqual(pick(await runCheck({ type: 'tcp', target: { host: '127.0.0.1', port: fp }, timeout: 1000 })), [false, 'ECONNREFUSED']);
  });

  test('dns through dnsmasq: NOERROR with an answer passes; NOERROR without one, NXDOMAIN and silence fail', async (t) => {
    if (!which('dnsmasq')) return void skipOutsideCI(t, 'dnsmasq not installed');
    let dns: LabDns | null = null;
    try {
      dns = await startDnsmasq({ records: { hosts: [['health.chk.test', '192.0.2.9']] } });
      const server = { host: '127.0.0.1', port: dns.port };
      const q = (name: string, qtype: 'A' | 'AAAA' = 'A'): CheckConfig => ({ type: 'dns', server, name, qtype, timeout: 1000 });
      assert.deepEqual(pick(await runCheck(q('health.chk.test'))), [true, 'NOERROR, 1 record']);
      assert.deepEqual(pick(await runCheck(q('health.chk.test', 'AAAA'))), [false, 'NOERROR, no answer']);
      assert.deepEqual(pick(await runCheck(q('missing.chk.test'))), [false, 'NXDOMAIN']);
      await dns.stop();
      const silent = await runCheck(q('health.chk.test'));
      assert.equal(silent.ok, false);
    } finally {
      await dns?.stop();
    }
  });

  test('exec: exit 0 passes, the exit code and last stderr line are named, no shell, a timeout kills the process group', async () => {
    assert.deepEqual(pick(await runCheck({ type: 'exec', argv: ['/bin/true'], timeout: 1000 })), [true, 'exit 0']);
    const script = join(dir, 'check.sh');
    await writeFile(script, '#!/bin/sh\necho "db: replication lag 40s" >&2\nexit "$1"\n');
    await chmod(script, 0o755);
    assert.deepEqual(pick(await runCheck({ type: 'exec', argv: [script, '3'], timeout: 1000 })), [false, 'exit 3 (db: replication lag 40s)']);
    // an argument is never read by a shell
    assert.deepEqual(pick(await runCheck({ type: 'exec', argv: [script, '0; exit 7'], timeout: 1000 })), [false, 'exit 2 (' + (await shErr(script)) + ')']);
    // a check that hangs with a child of its own: both are gone after the timeout
    const pidfile = join(dir, 'child.pid');
    const hang = join(dir, 'hang.sh');
    await writeFile(hang, `#!/bin/sh\nsleep 30 &\necho $! > ${pidfile}\nwait\n`);
    await chmod(hang, 0o755);
    const o = await runCheck({ type: 'exec', argv: [hang], timeout: 400 });
    assert.deepEqual(pick(o), [false, 'timeout after 400ms']);
    const child = Number((await readFile(pidfile, 'utf8')).trim());
    await sleep(200);
    assert.equal(alive(child), false, `the check's child ${child} was killed with its group`);
    const missing = await runCheck({ type: 'exec', argv: [join(dir, 'nope')], timeout: 1000 });
    assert.deepEqual(pick(missing), [false, 'ENOENT']);
  });

  test('runAllChecks runs concurrently: the slowest timeout bounds the round', async () => {
    const slow = (ms: number): CheckConfig => ({ type: 'http', url: `http://127.0.0.1:${hungPort}/`, timeout: ms });
    const t0 = performance.now();
    const r = await runAllChecks([{ name: 'a', checks: [slow(1000), slow(1000), slow(1000)] }, { name: 'b', checks: [{ type: 'http', url: url('/'), timeout: 1000 }] }]);
    const took = performance.now() - t0;
    assert.deepEqual(r.get('a')!.map((o) => o.ok), [false, false, false]);
    assert.deepEqual(r.get('b')!.map((o) => o.ok), [true]);
    // one after another they would take at least 3 s; the margin is for a loaded machine
    assert.ok(took < 2500, `three 1 s timeouts in ${took.toFixed(0)} ms`);
  });

  test('scheduleChecks: each check on its interval, a change of verdict calls back at once, then `confirm` more times', async () => {
    let calls = 0;
    const s = scheduleChecks([{ name: 'a', checks: [{ type: 'http', url: url('/'), timeout: 500, interval: 100 }] }], { defaultIntervalMs: 10_000, onChange: () => calls++, confirm: 1 });
    try {
      for (const t0 = performance.now(); calls < 2 && performance.now() - t0 < 5000; ) await sleep(5);
      await sleep(350); // three more passes at 100 ms
      assert.equal(calls, 2, 'the first outcome is a change, confirmed once; steady passes call nothing');
      status = 500;
      const t0 = performance.now();
      while (calls < 3 && performance.now() - t0 < 5000) await sleep(5);
      // the check's own 100 ms interval, not the 10 s default (a loaded machine runs timers late)
      assert.ok(performance.now() - t0 < 3000, 'seen on the check\'s interval, not the default');
      assert.deepEqual(pick(s.results().get('a')![0]!), [false, 'HTTP 500']);
    } finally {
      status = 200;
      s.stop();
    }
  });

  test('unrunnableChecks: a missing or non-executable program and an unreadable CA are named with their path', async () => {
    const plain = join(dir, 'plain.txt');
    await writeFile(plain, 'x');
    const got = await unrunnableChecks([
      { name: 'a', checks: [{ type: 'exec', argv: ['/bin/true'], timeout: 1 }, { type: 'exec', argv: [join(dir, 'missing')], timeout: 1 }] },
      { name: 'b', checks: [{ type: 'exec', argv: [plain], timeout: 1 }, { type: 'http', url: 'https://127.0.0.1/', ca: join(dir, 'no-ca.pem'), timeout: 1 }] },
    ]);
    assert.deepEqual(got.map((p) => p.path.join('.')), ['services.0.checks.1.argv.0', 'services.1.checks.0.argv.0', 'services.1.checks.1.ca']);
    assert.match(got[0]!.message, /missing: not found/);
    assert.match(got[1]!.message, /is not executable/);
    assert.match(got[2]!.message, /no-ca\.pem: not found/);
  });
});

function pick(o: { ok: boolean; detail: string }): [boolean, string] {
  return [o.ok, o.detail];
}

/** Running, not a zombie (an orphan waits for an init that may not reap it here). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** What /bin/sh says about `exit "0; exit 7"` (dash and bash word it differently). */
async function shErr(script: string): Promise<string> {
  try {
    execFileSync(script, ['0; exit 7'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return '';
  } catch (e) {
    return String((e as { stderr: Buffer }).stderr).trim().split('\n').at(-1)!.slice(0, 120);
  }
}
