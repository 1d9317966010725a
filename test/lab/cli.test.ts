// vip-mgmt -a / -d end to end on a real FRR lb + router pair and a real dnsmasq: what the router's table shows.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { startDnsmasq, startServfailDns, type LabDns } from './dnsmasq.ts';
import { describeRun, jsonOf, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq'];
import { createStateStore } from '../../src/adapters/state.ts';

// svc: a CNAME chain to two A and two AAAA; v4only / v6only: one family; outside: not in vip_prefixes;
// far: ranked sixth, and the lab has only VIP-RANK-0..3.
const SVC = ['192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2'];
const SVC_PREFIXES = ['192.0.2.1/32', '192.0.2.2/32', '2001:db8::1/128', '2001:db8::2/128'];
const RECORDS = {
  cname: [
    ['www.svc.example.test', 'edge.svc.example.test'],
    ['edge.svc.example.test', 'lb.svc.example.test'],
  ] as [string, string][],
  hosts: [
    ['lb.svc.example.test', ...SVC],
    ['v4only.example.test', '192.0.2.20'],
    ['v6only.example.test', '2001:db8::20'],
    ['outside.example.test', '203.0.113.5'],
    ['far.example.test', '192.0.2.30'],
  ] as [string, ...string[]][],
};

describe('vip-mgmt -a / -d on real FRR and DNS', { concurrency: false }, () => {
  let lab: BgpLab;
  let dns: LabDns;
  let dir: string;
  let cfg: string;

  before(async () => {
    // without the programs every test skips (or, in CI, fails) on its own, saying what is missing
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-cli-'));
    dns = await startDnsmasq({ records: RECORDS, ttl: 30 });
    lab = await createBgpLab({
      lbs: [
        {
          name: 'par1',
          asn: 64512,
          vips: [...SVC, '192.0.2.20', '2001:db8::20', '203.0.113.5', '192.0.2.30'],
          networks: SVC_PREFIXES.map((p) => [p, 'VIP-RANK-0']),
        },
      ],
      router: { asn: 65000 },
    });
    cfg = await writeConfig(
      dir,
      labConfig({
        dc: 'par1',
        pathspace: lab.lbs.par1!.pathspace,
        dnsPort: dns.port,
        stateDir: join(dir, 'state'),
        datacenters: { par1: 64512, lon1: 64513, ams1: 64514, fra1: 64515, mad1: 64516, mil1: 64517 },
        services: [
          { name: 'www.svc.example.test', prefer: ['par1', 'lon1'] },
          { name: 'v4only.example.test', prefer: ['lon1', 'par1'] },
          { name: 'far.example.test', prefer: ['lon1', 'ams1', 'fra1', 'mad1', 'mil1', 'par1'] },
        ],
      }),
    );
    for (const p of SVC_PREFIXES) await lab.waitRoute(p, (r) => r?.best != null);
  });
  after(async () => {
    await lab?.destroy();
    await dns?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => runCli(['-c', cfg, ...args]);
  const running = () => lab.lbs.par1!.vtysh(['show running-config']);
  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });

  test('-d withdraws every VIP of the name, v4 and v6, and stores the hold', async (t) => {
    if (!gate(t)) return;
    const r = await cli('-d', 'www.svc.example.test', '--reason', 'kernel upgrade');
    assert.equal(r.code, 0, describeRun(r));
    for (const p of SVC_PREFIXES) {
      await lab.waitRoute(p, (x) => x === null);
      assert.match(r.stderr, new RegExp(`Deleting route to ${p.replace(/[.]/g, '\\.')}`));
    }
    const state = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8'));
    for (const p of SVC_PREFIXES) assert.equal(state.holds[p]?.reason, 'kernel upgrade', p);
  });

  test('status --json shows the withdrawn VIPs with their hold', async (t) => {
    if (!gate(t)) return;
    const r = await cli('status', 'www.svc.example.test', '--json');
    assert.equal(r.code, 0, describeRun(r));
    const s = jsonOf(r);
    assert.equal(s.dc, 'par1');
    assert.deepEqual(s.vips.map((v: any) => v.prefix).sort(), [...SVC_PREFIXES].sort());
    for (const v of s.vips) {
      assert.equal(v.configured, false);
      assert.equal(v.announced, false);
      assert.equal(v.hold?.reason, 'kernel upgrade');
      assert.deepEqual(v.names, ['www.svc.example.test']);
    }
  });

  test('--dry-run -a prints the plan and changes nothing', async (t) => {
    if (!gate(t)) return;
    const before = await running();
    const stateBefore = await readFile(join(dir, 'state', 'state.json'), 'utf8');
    const r = await cli('--dry-run', '-a', 'www.svc.example.test');
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /192\.0\.2\.1\/32\s+add\s+VIP-RANK-0\s+planned/);
    assert.equal(await running(), before);
    assert.equal(await readFile(join(dir, 'state', 'state.json'), 'utf8'), stateBefore);
    for (const p of SVC_PREFIXES) assert.equal(await lab.routerRoute(p), null, p);
  });

  test('-a restores every VIP with the AS-path length of the DC rank and clears the hold', async (t) => {
    if (!gate(t)) return;
    const r = await cli('-a', 'www.svc.example.test', '--json');
    assert.equal(r.code, 0, describeRun(r));
    const out = jsonOf(r);
    assert.deepEqual(out.errors, []);
    assert.equal(out.changes.length, 4);
    for (const c of out.changes) {
      assert.equal(c.action, 'add');
      assert.equal(c.verified, true);
    }
    for (const p of SVC_PREFIXES) {
      const route = await lab.waitRoute(p, (x) => x?.best != null);
      assert.deepEqual(route!.best!.asPath, [64512], `${p}: rank 0 announces without prepending`);
    }
    const state = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8'));
    assert.deepEqual(state.holds, {});
  });

  test('a second -a is a no-op', async (t) => {
    if (!gate(t)) return;
    const before = await running();
    const r = await cli('-a', 'www.svc.example.test', '--json');
    assert.equal(r.code, 0, describeRun(r));
    const out = jsonOf(r);
    assert.deepEqual(
      out.changes.map((c: any) => [c.action, c.verified]),
      SVC.map(() => ['none', true]),
    );
    assert.doesNotMatch(r.stderr, /Adding route/);
    assert.equal(await running(), before);
  });

  test('a DC ranked second prepends its AS once (v4-only name), a literal or unlisted name uses rank 0 (v6-only name)', async (t) => {
    if (!gate(t)) return;
    const r = await cli('-a', 'v4only.example.test', 'v6only.example.test');
    assert.equal(r.code, 0, describeRun(r));
    const v4 = await lab.waitRoute('192.0.2.20/32', (x) => x?.best != null);
    assert.deepEqual(v4!.best!.asPath, [64512, 64512]);
    const v6 = await lab.waitRoute('2001:db8::20/128', (x) => x?.best != null);
    assert.deepEqual(v6!.best!.asPath, [64512]);
    assert.match(await running(), /network 192\.0\.2\.20\/32 route-map VIP-RANK-1/);
  });

  test('a VIP not on a local interface is reported as configured but not in the BGP table (exit 1)', async (t) => {
    if (!gate(t)) return;
    const r = await cli('-a', '192.0.2.99', '--json');
    assert.equal(r.code, 1, describeRun(r));
    const out = jsonOf(r);
    assert.equal(out.changes[0].verified, false);
    assert.match(out.errors[0].message, /configured but not in BGP table: is the VIP on a local interface\?/);
    assert.equal(await lab.routerRoute('192.0.2.99/32'), null);
    const d = await cli('-d', '192.0.2.99');
    assert.equal(d.code, 0, describeRun(d));
  });

  test('an address outside vip_prefixes is refused with exit 5 and nothing configured', async (t) => {
    if (!gate(t)) return;
    const before = await running();
    for (const name of ['outside.example.test', '203.0.113.5']) {
      const r = await cli('-a', name, '--json');
      assert.equal(r.code, 5, describeRun(r));
      assert.equal(jsonOf(r).errors[0].code, 'VIP_E_POLICY_PREFIX');
    }
    assert.equal(await running(), before);
    assert.equal(await lab.routerRoute('203.0.113.5/32'), null);
  });

  test('a route-map missing from the running config is refused with exit 5', async (t) => {
    if (!gate(t)) return;
    const before = await running();
    const r = await cli('-a', 'far.example.test');
    assert.equal(r.code, 5, describeRun(r));
    assert.match(r.stderr, /route-map VIP-RANK-5 does not exist/);
    assert.equal(await running(), before);
  });

  test('NXDOMAIN gives exit 4 and names the name', async (t) => {
    if (!gate(t)) return;
    const r = await cli('-d', 'nosuch.example.test');
    assert.equal(r.code, 4, describeRun(r));
    assert.match(r.stderr, /nosuch\.example\.test/);
    const j = await cli('-d', 'nosuch.example.test', '--json');
    assert.equal(jsonOf(j).errors[0].code, 'VIP_E_DNS_NXDOMAIN');
  });

  test('SERVFAIL gives exit 4', async (t) => {
    if (!gate(t)) return;
    const sf = await startServfailDns({ domains: ['example.test'] });
    try {
      const bad = await writeConfig(
        dir,
        labConfig({ dc: 'par1', pathspace: lab.lbs.par1!.pathspace, dnsPort: sf.port, stateDir: join(dir, 'state'), datacenters: { par1: 64512 } }),
        'servfail.yaml',
      );
      const r = await runCli(['-c', bad, '-d', 'www.svc.example.test', '--json']);
      assert.equal(r.code, 4, describeRun(r));
      assert.equal(jsonOf(r).errors[0].code, 'VIP_E_DNS_SERVFAIL');
    } finally {
      await sf.stop();
    }
  });

  test('a DNS timeout (server stopped) gives exit 4 and changes nothing', async (t) => {
    if (!gate(t)) return;
    const before = await running();
    await dns.stop();
    try {
      const r = await cli('-d', 'www.svc.example.test', '--json');
      assert.equal(r.code, 4, describeRun(r));
      assert.equal(jsonOf(r).errors[0].code, 'VIP_E_DNS_TIMEOUT');
      assert.match(jsonOf(r).errors[0].message, /www\.svc\.example\.test/);
    } finally {
      await dns.restart();
    }
    assert.equal(await running(), before);
  });

  test('while another run holds the lock: exit 75 and nothing done; with --lock-wait it waits its turn', async (t) => {
    if (!gate(t)) return;
    const store = createStateStore(join(dir, 'state'));
    const held = await store.lock();
    const before = await running();
    try {
      const r = await cli('-d', 'www.svc.example.test', '--lock-wait', '0');
      assert.equal(r.code, 75, describeRun(r));
      assert.equal(await running(), before);
    } finally {
      await held.release();
    }
    const again = await store.lock();
    const waiting = cli('-d', 'v4only.example.test', '--lock-wait', '20s');
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(await running(), before, 'the waiting run must not change anything while the lock is held');
    await again.release();
    const r = await waiting;
    assert.equal(r.code, 0, describeRun(r));
    await lab.waitRoute('192.0.2.20/32', (x) => x === null);
  });

  test('two concurrent runs never both write: one waits or exits 75', async (t) => {
    if (!gate(t)) return;
    const runs = await Promise.all([
      cli('-d', 'www.svc.example.test', '--reason', 'one', '--lock-wait', '0'),
      cli('-d', 'www.svc.example.test', '--reason', 'two', '--lock-wait', '0'),
      cli('-d', 'www.svc.example.test', '--reason', 'three', '--lock-wait', '0'),
    ]);
    for (const r of runs) assert.ok(r.code === 0 || r.code === 75, describeRun(r));
    assert.ok(runs.some((r) => r.code === 0));
    // Each prefix is withdrawn exactly once: a run that went second saw it already gone.
    for (const p of SVC_PREFIXES) {
      const n = runs.map((r) => r.stderr.split(`Deleting route to ${p}`).length - 1).reduce((a, b) => a + b, 0);
      assert.equal(n, 1, `${p} withdrawn ${n} times`);
      await lab.waitRoute(p, (x) => x === null);
    }
    const state = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8'));
    for (const p of SVC_PREFIXES) assert.ok(['one', 'two', 'three'].includes(state.holds[p]?.reason), p);
  });

  test('bgpd killed: exit 6 and the hold state untouched', async (t) => {
    if (!gate(t)) return;
    const stateBefore = await readFile(join(dir, 'state', 'state.json'), 'utf8');
    await lab.killBgpd('par1');
    try {
      for (const args of [['-a', 'www.svc.example.test'], ['-d', 'v6only.example.test', '--reason', 'x'], ['status']]) {
        const r = await cli(...args);
        assert.equal(r.code, 6, `${args.join(' ')}: ${describeRun(r)}`);
        assert.match(r.stderr, /bgpd/);
      }
      assert.equal(await readFile(join(dir, 'state', 'state.json'), 'utf8'), stateBefore);
    } finally {
      await lab.startBgpd('par1');
    }
  });
});
