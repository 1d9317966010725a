// Fleet mode over TLS: a real etcd member requiring client certificates (made here with openssl), in its own network namespace; fleet writes, doctor's certificate checks, and a missing client certificate classified as VIP_E_FLEET_TLS (exit 8).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeRun, jsonOf, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';

const run = promisify(execFile);
const NEEDS = ['etcd', 'etcdctl', 'openssl', 'ip'];

describe('fleet mode over TLS with client certificates', { concurrency: false }, () => {
  let dir: string;
  let ns = '';
  let etcd: ChildProcess | null = null;
  const cfg: Record<string, string> = {};
  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const cli = (args: string[], config: string) => runCli(['-c', config, ...args], { prefix: ['ip', 'netns', 'exec', ns], timeoutMs: 30_000 });

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-fleet-tls-'));
    const ssl = (args: string[]) => run('openssl', args, { cwd: dir });
    await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '400', '-subj', '/CN=vip-mgmt test CA']);
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    for (const [name, days, ext] of [['server', '400', ['-extfile', 'san.ext']], ['client', '10', []]] as const) {
      await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
      await ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', days, ...ext]);
    }
    ns = `vipt-${randomBytes(3).toString('hex')}`;
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await mkdir(join(dir, 'data'), { mode: 0o700 });
    etcd = spawn('ip', [
      'netns', 'exec', ns, 'etcd', '--name', 't1', '--data-dir', join(dir, 'data'),
      '--listen-client-urls', 'https://127.0.0.1:2379', '--advertise-client-urls', 'https://127.0.0.1:2379',
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 't1=http://127.0.0.1:2380',
      '--cert-file', join(dir, 'server.pem'), '--key-file', join(dir, 'server.key'), '--trusted-ca-file', join(dir, 'ca.pem'), '--client-cert-auth',
    ], { stdio: 'ignore' });
    const tls = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key') };
    const base = {
      dc: 'lon1',
      vip_prefixes: ['192.0.2.0/24'],
      datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 } },
      state_dir: join(dir, 'state'),
      log: { syslog: false },
    };
    cfg.good = await writeConfig(dir, { ...base, fleet: { host: 'lon1-lb1', etcd: { endpoints: ['https://127.0.0.1:2379'], tls } } }, 'good.yaml');
    cfg.nocert = await writeConfig(dir, { ...base, fleet: { host: 'lon1-lb1', etcd: { endpoints: ['https://127.0.0.1:2379'], tls: { ca: tls.ca } } } }, 'nocert.yaml');
    for (let i = 0; ; i++) {
      const r = await run('ip', ['netns', 'exec', ns, 'etcdctl', '--endpoints', 'https://127.0.0.1:2379', '--cacert', tls.ca, '--cert', tls.cert, '--key', tls.key, 'get', 'x']).then(() => true, () => false);
      if (r) break;
      if (i > 100) throw new Error('TLS etcd did not come up');
      await sleep(100);
    }
  });
  after(async () => {
    if (etcd && etcd.exitCode === null) {
      const gone = new Promise((res) => etcd!.once('exit', res));
      etcd.kill('SIGKILL');
      await gone;
    }
    if (ns) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a fleet hold over TLS; doctor reports the certificates; no client certificate is VIP_E_FLEET_TLS, exit 8', async (t) => {
    if (!gate(t)) return;
    const d = await cli(['-d', '192.0.2.9', '--dc', 'par1', '--reason', 'over tls'], cfg.good!);
    assert.equal(d.code, 0, describeRun(d));
    const st = jsonOf(await cli(['status', '--fleet', '--json'], cfg.good!));
    assert.deepEqual(st.holds.map((h: any) => [h.dc, h.name, h.reason]), [['par1', '192.0.2.9', 'over tls']]);
    const doc = jsonOf(await cli(['doctor', '--json'], cfg.good!));
    const v = Object.fromEntries(doc.checks.map((c: any) => [c.id, [c.verdict, c.detail]]));
    assert.equal(v['etcd-quorum'][0], 'ok');
    assert.equal(v['tls-ca'][0], 'ok');
    assert.deepEqual([v['tls-cert'][0], /expires in 9 days/.test(v['tls-cert'][1])], ['warn', true], JSON.stringify(v['tls-cert']));
    const no = await cli(['status', '--fleet', '--json'], cfg.nocert!);
    assert.equal(no.code, 8, describeRun(no));
    assert.equal(jsonOf(no).error.code, 'VIP_E_FLEET_TLS');
  });
});
