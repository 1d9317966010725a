// Fleet mode on real components: a 3-member etcd cluster on a management segment, two DCs of FRR LBs
// (par1, lon1) and a router, every vip-mgmt run inside its LB's namespace. Fleet holds from another
// DC, the last-DC guard (operator and watchdog), etcd losing a member and then its quorum, lease
// expiry, and a daemon acting on a fleet hold through its watch.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab, type RouterRoute } from './frr.ts';
import { createEtcdLab, ETCD_LAB_COMMANDS, type EtcdLab } from './etcd.ts';
import { BIN, describeRun, jsonOf, labConfig, runCli, writeConfig, type CliResult } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import { ipvsService, ipvsTable, writeIpvsTable } from '../fixtures/ipvs-tables.ts';

const NEEDS = [...FRR_LAB_COMMANDS, ...ETCD_LAB_COMMANDS];
const PAR1 = 64512;
const LON1 = 65100;
const VIP = '192.0.2.10';
const P = '192.0.2.10/32';
const NAME = 'www.example.test';
const NAME2 = 'api.example.test'; // another name of the same VIP (not a service)
const SERVICES = [{ name: NAME, prefer: ['par1', 'lon1'] }];
const DCS = ['par1', 'lon1'] as const;
type Dc = (typeof DCS)[number];

const from = (r: RouterRoute | null, dc: string) => r?.paths.find((p) => p.from === dc) ?? null;
const both = (r: RouterRoute | null) => from(r, 'par1') !== null && from(r, 'lon1') !== null;

describe('fleet mode: 3-member etcd, two DCs of FRR LBs, a router', { concurrency: false }, () => {
  let etcd: EtcdLab;
  let lab: BgpLab;
  let dir: string;
  const cfg: Record<string, string> = {};
  const base: Record<string, Record<string, unknown>> = {};
  const table: Record<string, string> = {};

  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const setTable = (dc: Dc, weights: number[]) => writeIpvsTable(table[dc]!, ipvsTable([ipvsService(VIP, weights)]));
  /** vip-mgmt inside DC's LB namespace, as its host would run it */
  const cli = (dc: Dc, args: string[], config = cfg[dc]!): Promise<CliResult> =>
    runCli(['-c', config, ...args], { prefix: ['ip', 'netns', 'exec', lab.lbs[dc]!.ns], timeoutMs: 30_000 });
  const ok = async (dc: Dc, args: string[]) => {
    const r = await cli(dc, args);
    assert.equal(r.code, 0, `${dc}: vip-mgmt ${args.join(' ')}: ${describeRun(r)}`);
    return r;
  };
  const route = () => lab.routerRoute(P);
  const fleetJson = async (dc: Dc) => jsonOf((await ok(dc, ['status', '--fleet', '--json'])));

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-fleet-'));
    etcd = await createEtcdLab({ records: [[NAME, VIP], [NAME2, VIP]] });
    const snippets: Record<string, string> = {};
    for (const dc of DCS) {
      table[dc] = join(dir, `ip_vs-${dc}`);
      await setTable(dc, [1, 1]);
      base[dc] = labConfig({
        dc,
        pathspace: 'unused',
        dnsPort: 53,
        stateDir: join(dir, `state-${dc}`),
        datacenters: { par1: PAR1, lon1: LON1 },
        services: SERVICES,
        vipPrefixes: ['192.0.2.0/24'],
        extra: {
          dns: { servers: [etcd.dnsServer], timeout: '500ms', attempts: 1 },
          watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: table[dc] } },
          fleet: { host: `${dc}-lb1`, etcd: { endpoints: etcd.endpoints, lease_ttl: '60s', timeout: '1s' } },
        },
      });
      // render needs DNS only: run it on the management segment, where dnsmasq is
      const r = await runCli(['-c', await writeConfig(dir, base[dc]!, `${dc}.yaml`), 'render'], { prefix: ['ip', 'netns', 'exec', etcd.ns] });
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stdout, /^route-map VIP-DRAIN permit 10$/m);
      snippets[dc] = r.stdout;
    }
    lab = await createBgpLab({
      lbs: DCS.map((dc) => ({ name: dc, asn: dc === 'par1' ? PAR1 : LON1, vips: [VIP], ranks: 0, extraConfig: snippets[dc] })),
      router: { asn: 65000 },
    });
    for (const dc of DCS) {
      base[dc] = { ...base[dc], bgp: { ...(base[dc]!.bgp as object), pathspace: lab.lbs[dc]!.pathspace } };
      cfg[dc] = await writeConfig(dir, base[dc]!, `${dc}.yaml`);
      await etcd.attach(lab.lbs[dc]!.ns);
    }
    await lab.waitRoute(P, both);
    // every host publishes with its first cycle
    for (const dc of DCS) await ok(dc, ['watchdog']);
  });
  after(async () => {
    await lab?.destroy();
    await etcd?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('both hosts publish under versioned keys; status --fleet shows the VIP healthy in both DCs', async (t) => {
    if (!gate(t)) return;
    const keys = (await etcd.etcdctl(['get', '--prefix', '--keys-only', '/vip-mgmt/'])).split('\n').filter(Boolean).sort();
    assert.deepEqual(keys, ['/vip-mgmt/v1/hosts/lon1/lon1-lb1', '/vip-mgmt/v1/hosts/par1/par1-lb1', '/vip-mgmt/v1/seen/lon1/lon1-lb1', '/vip-mgmt/v1/seen/par1/par1-lb1']);
    // a quiet cycle rewrites only the small seen key, under the same lease
    const rev = async (k: string) => JSON.parse(await etcd.etcdctl(['get', k, '-w', 'json'])).kvs[0];
    const [h0, s0] = [await rev('/vip-mgmt/v1/hosts/par1/par1-lb1'), await rev('/vip-mgmt/v1/seen/par1/par1-lb1')];
    await ok('par1', ['watchdog']);
    const [h1, s1] = [await rev('/vip-mgmt/v1/hosts/par1/par1-lb1'), await rev('/vip-mgmt/v1/seen/par1/par1-lb1')];
    assert.equal(h1.mod_revision, h0.mod_revision, 'record not rewritten');
    assert.ok(s1.mod_revision > s0.mod_revision, 'seen key rewritten');
    assert.equal(h1.lease, h0.lease);
    assert.equal(s1.lease, h1.lease);
    const st = await fleetJson('lon1');
    assert.deepEqual(st.vips.map((v: any) => [v.prefix, v.healthy, v.hosts.map((h: any) => `${h.dc}/${h.host}:${h.routeMap}:${h.live}`)]), [
      [P, 2, ['lon1/lon1-lb1:VIP-RANK-1:2', 'par1/par1-lb1:VIP-RANK-0:2']],
    ]);
    // doctor: every member, the quorum, this host's record, the clock
    const doc = jsonOf(await cli('par1', ['doctor', '--json']));
    const fleetChecks = doc.checks.filter((c: any) => /^(etcd|fleet|clock)/.test(c.id)).map((c: any) => [c.id, c.verdict]);
    assert.deepEqual(fleetChecks, [...etcd.endpoints.map((e) => [`etcd:${e}`, 'ok']), ['etcd-quorum', 'ok'], ['fleet-record', 'ok'], ['clock-skew', 'ok']]);
    const text = await ok('par1', ['status', '--fleet']);
    assert.match(text.stdout, /^fleet: 2 host\(s\) with a live lease: lon1 1; par1 1$/m);
    assert.match(text.stdout, /^192\.0\.2\.10\/32\s+2\/2\s+1\/1\s+1\/1$/m);
  });

  test('a fleet hold set from a lon1 host drains par1 (router: par1 path gone); clearing it restores', async (t) => {
    if (!gate(t)) return;
    const d = await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'fibre cut']);
    assert.match(d.stdout, /fleet hold set on dc par1: www\.example\.test \(192\.0\.2\.10\/32\)/);
    assert.ok(from(await route(), 'lon1'), 'lon1 itself changed nothing');
    const held = await fleetJson('par1');
    assert.deepEqual(held.holds.map((h: any) => [h.dc, h.name, h.prefixes, h.reason, h.by.endsWith('@lon1-lb1')]), [['par1', NAME, [P], 'fibre cut', true]]);
    // par1's next cycle enforces it (cron form)
    const c = await ok('par1', ['watchdog']);
    assert.match(c.stderr, /held for maintenance > delete route/);
    const r = await lab.waitRoute(P, (x) => from(x, 'par1') === null && from(x, 'lon1') !== null);
    assert.deepEqual(r?.paths.map((p) => p.from), ['lon1']);
    const st = await fleetJson('lon1');
    const par = st.vips[0].hosts.find((h: any) => h.dc === 'par1');
    assert.deepEqual([par.routeMap, par.hold?.source, par.hold?.reason], [null, 'fleet', 'fibre cut']);
    // the local state file never got the fleet hold; status shows it; render leaves it out
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'state-par1', 'state.json'), 'utf8')).holds, {});
    const local = jsonOf(await ok('par1', ['status', '--json']));
    assert.match(local.vips[0].hold.reason, /^fleet hold on dc par1: fibre cut$/);
    assert.match((await ok('par1', ['render'])).stdout, /^! held for maintenance, left out: network 192\.0\.2\.10\/32 route-map VIP-RANK-0/m);
    // a local -a cannot undo it: exit 5 saying how to clear it
    const a = await cli('par1', ['-a', NAME]);
    assert.equal(a.code, 5, describeRun(a));
    assert.match(a.stderr, /held by a fleet hold on dc par1.*vip-mgmt -a www\.example\.test --dc par1/);

    await ok('lon1', ['-a', NAME, '--dc', 'par1']);
    await ok('par1', ['watchdog']);
    await lab.waitRoute(P, both);
  });

  test('the last-DC guard refuses the last DC drain (exit 5, nothing changed) and keeps the last DC announcing when its reals are all at weight 0', async (t) => {
    if (!gate(t)) return;
    await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'fibre cut']);
    await ok('par1', ['watchdog']);
    await lab.waitRoute(P, (x) => from(x, 'par1') === null && from(x, 'lon1') !== null);

    // a fleet drain of lon1, from par1: refused, naming the VIP and the hosts
    const d = await cli('par1', ['-d', NAME, '--dc', 'lon1', '--reason', 'oops']);
    assert.equal(d.code, 5, describeRun(d));
    assert.match(d.stderr, /last-DC guard: .*192\.0\.2\.10\/32 \(withdrawn by lon1\/lon1-lb1; par1\/par1-lb1: held \(fleet: fibre cut\)\)/);
    assert.match(d.stderr, /VIP_E_POLICY_LAST_DC/);
    // a local -d on lon1: refused the same way
    const local = await cli('lon1', ['-d', NAME]);
    assert.equal(local.code, 5, describeRun(local));
    // nothing changed: no lon1 hold in etcd, lon1 still announcing, no local hold
    assert.deepEqual((await fleetJson('lon1')).holds.map((h: any) => h.dc), ['par1']);
    assert.ok(from(await route(), 'lon1'));
    assert.match((await ok('lon1', ['status', '--json'])).stdout, /"hold": null/);

    // lon1's reals all at weight 0 while par1 is drained: the watchdog keeps the route, demoted
    await setTable('lon1', [0, 0]);
    const w = await cli('lon1', ['watchdog']);
    assert.equal(w.code, 5, describeRun(w));
    assert.match(w.stderr, /last-DC guard/);
    assert.match(w.stderr, /> demote route \(last healthy announcer in the fleet: kept\)/);
    const kept = await lab.waitRoute(P, (x) => (from(x, 'lon1')?.asPath.length ?? 0) > 2);
    assert.equal(from(kept, 'par1'), null);
    assert.ok(from(kept, 'lon1'), 'the last DC keeps announcing');
    // every cycle keeps it, and says so (exit 5 again)
    const again = await cli('lon1', ['watchdog']);
    assert.equal(again.code, 5, describeRun(again));
    assert.ok(from(await route(), 'lon1'));

    // --force gets past the guard, with the reason logged (dry run: changes nothing)
    const forced = await cli('par1', ['-d', NAME, '--dc', 'lon1', '--force', '--reason', 'planned outage', '--dry-run']);
    assert.equal(forced.code, 0, describeRun(forced));
    assert.match(forced.stderr, /--force: the last-DC guard is not checked .*reason: planned outage/);

    await setTable('lon1', [1, 1]);
    await ok('lon1', ['watchdog']);
    await lab.waitRoute(P, (x) => from(x, 'lon1')?.asPath.length === 2); // rank 1: one prepend
    await ok('lon1', ['-a', NAME, '--dc', 'par1']);
    await ok('par1', ['watchdog']);
    await lab.waitRoute(P, both);
  });

  test('both DCs lose their real servers at the same moment and both watchdogs run at once: the VIP is never withdrawn everywhere', async (t) => {
    if (!gate(t)) return;
    // fall: 1 (this lab's setting) decides in the cycle that sees the loss: each watchdog reads
    // the other's record from before the other decided. Run both cycles side by side, several rounds.
    const rounds = 4;
    const outcomes: string[] = [];
    for (let i = 0; i < rounds; i++) {
      await Promise.all(DCS.map((dc) => setTable(dc, [0, 0])));
      const runs = await Promise.all(DCS.map((dc) => cli(dc, ['watchdog'])));
      await sleep(300); // withdrawals reach the router within ~100 ms
      const r = await route();
      outcomes.push(`${DCS.map((dc, k) => `${dc} exit ${runs[k]!.code}`).join(', ')}: router ${DCS.filter((dc) => from(r, dc)).join('+') || 'NOTHING'}`);
      assert.ok(DCS.some((dc) => from(r, dc) !== null), `round ${i}: the VIP was withdrawn everywhere\n${outcomes.join('\n')}\n${runs.map(describeRun).join('\n')}`);
      for (const run of runs) assert.ok([0, 5].includes(run.code), describeRun(run));
      await Promise.all(DCS.map((dc) => setTable(dc, [1, 1])));
      for (const dc of DCS) await ok(dc, ['watchdog']);
      for (const dc of DCS) await ok(dc, ['watchdog']); // a demoted route goes back to its rank
      await lab.waitRoute(P, (x) => both(x) && DCS.every((dc) => (from(x, dc)?.asPath.length ?? 99) <= 2));
    }
    console.log(`# both DCs down at once, ${rounds} rounds: ${outcomes.join('; ')}`);

    // an operator's fleet hold on lon1 at the moment par1's watchdog withdraws: not both either
    const raced: string[] = [];
    for (let i = 0; i < 3; i++) {
      await setTable('par1', [0, 0]);
      const [w, d] = await Promise.all([cli('par1', ['watchdog']), cli('lon1', ['-d', NAME, '--dc', 'lon1', '--reason', `race ${i}`])]);
      await sleep(300);
      const r = await route();
      raced.push(`watchdog par1 exit ${w.code}, -d --dc lon1 exit ${d.code}: router ${DCS.filter((dc) => from(r, dc)).join('+') || 'NOTHING'}`);
      assert.ok(DCS.some((dc) => from(r, dc) !== null), `round ${i}: the VIP was withdrawn everywhere\n${raced.join('\n')}\n${describeRun(w)}\n${describeRun(d)}`);
      await setTable('par1', [1, 1]);
      if (d.code === 0) await ok('par1', ['-a', NAME, '--dc', 'lon1']);
      for (const dc of DCS) await ok(dc, ['watchdog']);
      for (const dc of DCS) await ok(dc, ['watchdog']);
      await lab.waitRoute(P, (x) => both(x) && DCS.every((dc) => (from(x, dc)?.asPath.length ?? 99) <= 2));
    }
    console.log(`# a fleet hold on lon1 racing par1's health withdrawal, 3 rounds: ${raced.join('; ')}`);
  });

  test('two operators draining the two DCs at the same moment: one succeeds, the other is refused; --dc of the own DC acts at once', async (t) => {
    if (!gate(t)) return;
    const [a, b] = await Promise.all([cli('par1', ['-d', NAME, '--dc', 'lon1', '--reason', 'op A']), cli('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'op B'])]);
    assert.deepEqual([a.code, b.code].sort(), [0, 5], `${describeRun(a)}\n${describeRun(b)}`);
    const refused = a.code === 5 ? a : b;
    assert.match(refused.stderr, /last-DC guard: .*held \(fleet: op [AB]\)/);
    assert.equal((await fleetJson('par1')).holds.length, 1);
    for (const dc of DCS) await ok('par1', ['-a', NAME, '--dc', dc]);
    assert.deepEqual((await fleetJson('par1')).holds, []);
    assert.ok(both(await route()), 'neither DC had run a cycle: nothing was withdrawn');

    // par1 drains its own DC with --dc: it withdraws at once (its peers would on their next cycle)
    await ok('par1', ['-d', NAME, '--dc', 'par1', '--reason', 'own dc']);
    await lab.waitRoute(P, (x) => from(x, 'par1') === null && from(x, 'lon1') !== null);
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'state-par1', 'state.json'), 'utf8')).holds, {}, 'the hold lives in etcd only');
    await ok('par1', ['watchdog']); // and the watchdog keeps it withdrawn
    assert.equal(from(await route(), 'par1'), null);
    await ok('par1', ['-a', NAME, '--dc', 'par1']);
    await lab.waitRoute(P, both);
  });

  test('-a --dc of the own DC clears one fleet hold, and a VIP a second fleet hold (another name) still covers stays withdrawn', async (t) => {
    if (!gate(t)) return;
    await ok('par1', ['-d', NAME2, '--dc', 'par1', '--reason', 'api work']);
    await lab.waitRoute(P, (x) => from(x, 'par1') === null && from(x, 'lon1') !== null);
    await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'www work']);
    assert.deepEqual((await fleetJson('par1')).holds.map((h: any) => h.name).sort(), [NAME2, NAME].sort());
    const a = await ok('par1', ['-a', NAME, '--dc', 'par1']);
    assert.match(a.stderr, new RegExp(`${P} stays withdrawn: still held by the fleet hold ${NAME2.replaceAll('.', '\\.')} on dc par1`), describeRun(a));
    await sleep(500); // an announce would show at the router by now
    assert.equal(from(await route(), 'par1'), null, 'the second fleet hold still wins');
    await ok('par1', ['watchdog']);
    assert.equal(from(await route(), 'par1'), null);
    await ok('par1', ['-a', NAME2, '--dc', 'par1']);
    await lab.waitRoute(P, both);
    assert.deepEqual((await fleetJson('par1')).holds, []);
  });

  test('one member killed: works; two killed: a cycle changes no route and ends, fleet writes exit 8 naming etcd; quorum back: works', async (t) => {
    if (!gate(t)) return;
    await etcd.kill(0);
    // member 0 may have been the leader: until the other two elect one (election timeout 500 ms, more
    // on a loaded machine) a write can outlast the 1 s deadline and exit 8, as it should. "One member
    // down" is the state after that election.
    await etcd.waitHealthy();
    await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'one member down']);
    await ok('lon1', ['-a', NAME, '--dc', 'par1']);
    await ok('par1', ['watchdog']);
    assert.ok(both(await route()));

    await etcd.kill(1);
    const paths = async () => JSON.stringify((await route())?.paths.map((p) => [p.from, p.asPath]).sort());
    const before = await paths();
    const c = await cli('par1', ['watchdog']);
    console.log(`# watchdog cycle without etcd quorum: exit ${c.code} after ${Math.round(c.ms)} ms (etcd timeout 1s per call)`);
    assert.equal(c.code, 0, describeRun(c));
    assert.match(c.stderr, /etcd \(http:\/\/203\.0\.113\.1:2379.*going on with the last known fleet holds \(0 for dc par1/);
    // reals gone meanwhile: the guard cannot be checked, so no withdrawal (exit 8)
    await setTable('par1', [0, 0]);
    const down = await cli('par1', ['watchdog']);
    assert.equal(down.code, 8, describeRun(down));
    assert.match(down.stderr, /the last-DC guard cannot be checked/);
    await setTable('par1', [1, 1]);
    await ok('par1', ['watchdog']);
    await lab.waitRoute(P, (x) => from(x, 'par1')?.asPath.length === 1);
    assert.equal(await paths(), before, 'no route changed because etcd is down');

    const w = await cli('lon1', ['-d', NAME, '--dc', 'par1']);
    assert.equal(w.code, 8, describeRun(w));
    assert.match(w.stderr, /etcd \(http:\/\/203\.0\.113\.1:2379, .*\).*--force/);
    const wf = await cli('lon1', ['-d', NAME, '--dc', 'par1', '--force']);
    assert.equal(wf.code, 8, describeRun(wf));
    assert.match(wf.stderr, /setting the fleet hold par1\/www\.example\.test: etcd/);
    const st = await cli('lon1', ['status', '--fleet', '--json']);
    assert.equal(st.code, 8);
    const doc = jsonOf(await cli('lon1', ['doctor', '--json']));
    assert.deepEqual(doc.checks.filter((c: any) => c.id.startsWith('etcd')).map((c: any) => c.verdict), ['warn', 'warn', 'ok', 'fail'], JSON.stringify(doc.checks));
    assert.match(jsonOf(st).error.code, /^VIP_E_FLEET_/);

    await etcd.start(0);
    await etcd.start(1);
    await etcd.waitHealthy();
    await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'quorum back']);
    await ok('par1', ['watchdog']);
    await lab.waitRoute(P, (x) => from(x, 'par1') === null);
    await ok('lon1', ['-a', NAME, '--dc', 'par1']);
    await ok('par1', ['watchdog']);
    await lab.waitRoute(P, both);
  });

  test('no quorum: the fleet holds cached in state are still enforced, a local -a cannot undo them, and the last DC is not withdrawn', async (t) => {
    if (!gate(t)) return;
    await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'before the outage']);
    await ok('par1', ['watchdog']); // withdraws, and caches the hold
    await lab.waitRoute(P, (x) => from(x, 'par1') === null && from(x, 'lon1') !== null);
    await etcd.kill(0);
    await etcd.kill(1);
    try {
      // someone reloads par1's FRR from an old file: the VIP is back
      await lab.lbs.par1!.vtysh(['configure terminal', `router bgp ${PAR1}`, `network ${P} route-map VIP-RANK-0`]);
      await lab.waitRoute(P, both);
      const c = await cli('par1', ['watchdog']);
      assert.equal(c.code, 0, describeRun(c));
      assert.match(c.stderr, /going on with the last known fleet holds \(1 for dc par1, read /);
      await lab.waitRoute(P, (x) => from(x, 'par1') === null);
      const a = await cli('par1', ['-a', NAME]);
      assert.equal(a.code, 5, describeRun(a));
      assert.match(a.stderr, /using the fleet holds last read by the watchdog/);
      // lon1, the only DC announcing, loses its reals: kept (demoted), exit 8
      await setTable('lon1', [0, 0]);
      const w = await cli('lon1', ['watchdog']);
      assert.equal(w.code, 8, describeRun(w));
      assert.match(w.stderr, /the last-DC guard cannot be checked, so 192\.0\.2\.10\/32 is not withdrawn\. Kept, demoted/);
      assert.ok(from(await lab.waitRoute(P, (x) => (from(x, 'lon1')?.asPath.length ?? 0) > 2), 'lon1'));
      await setTable('lon1', [1, 1]);
      await ok('lon1', ['watchdog']);
      await lab.waitRoute(P, (x) => from(x, 'lon1')?.asPath.length === 2);
    } finally {
      await setTable('lon1', [1, 1]);
      await etcd.start(0);
      await etcd.start(1);
      await etcd.waitHealthy();
    }
    await ok('lon1', ['-a', NAME, '--dc', 'par1']);
    await ok('par1', ['watchdog']);
    await lab.waitRoute(P, both);
  });

  test('a host that stops cycling drops out of the guard count after its lease TTL', async (t) => {
    if (!gate(t)) return;
    // lon1 publishes once more with a 5 s lease, then stops
    const short = await writeConfig(dir, { ...base.lon1, fleet: { host: 'lon1-lb1', etcd: { endpoints: etcd.endpoints, lease_ttl: '5s', timeout: '1s' } } }, 'lon1-short.yaml');
    await ok('lon1', ['watchdog']);
    assert.equal((await cli('lon1', ['watchdog'], short)).code, 0);
    // while its lease lives, lon1 counts: draining par1 passes the guard (dry run)
    await ok('par1', ['-d', NAME, '--dc', 'par1', '--dry-run']);
    const until = Date.now() + 30_000;
    while ((await etcd.etcdctl(['get', '--keys-only', '--prefix', '/vip-mgmt/v1/']).then((o) => o.includes('lon1-lb1')))) {
      assert.ok(Date.now() < until, 'lon1 key still there 30 s after a 5 s lease');
      await sleep(250);
    }
    // lon1 still announces at the router, but it no longer counts
    assert.ok(from(await route(), 'lon1'));
    const d = await cli('par1', ['-d', NAME, '--dc', 'par1', '--dry-run']);
    assert.equal(d.code, 5, describeRun(d));
    assert.match(d.stderr, /192\.0\.2\.10\/32 \(withdrawn by par1\/par1-lb1; no other host announces it\)/);
    await ok('lon1', ['watchdog']);
    await ok('par1', ['-d', NAME, '--dc', 'par1', '--dry-run']);
  });

  test('a daemon applies a fleet hold through its watch (delay measured and printed)', async (t) => {
    if (!gate(t)) return;
    const started = new Date().toISOString();
    // a 60 s period: only the watch can make it act within this test
    const child = spawn('ip', ['netns', 'exec', lab.lbs.par1!.ns, process.execPath, BIN, '-c', cfg.par1!, 'watchdog', '--every', '60s'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      // its first cycle has published
      const until = Date.now() + 20_000;
      for (;;) {
        const st = await fleetJson('lon1');
        if (st.hosts.some((h: any) => h.host === 'par1-lb1' && h.lastSeen > started)) break;
        assert.ok(Date.now() < until, `daemon did not publish: ${log}`);
        await sleep(200);
      }
      await sleep(300); // its watch is set up right after the first cycle
      const t0 = performance.now();
      const set = await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'daemon test']);
      const t1 = performance.now();
      await lab.waitRoute(P, (x) => from(x, 'par1') === null, 10_000);
      const t2 = performance.now();
      console.log(`# daemon applied a fleet hold: par1's path gone at the router ${Math.round(t2 - t1)} ms after -d --dc returned (${Math.round(t2 - t0)} ms after it started; the CLI run itself ${Math.round(set.ms)} ms)`);
      assert.match(log, /fleet hold set: par1\/www\.example\.test: running a cycle now/);
      const c0 = performance.now();
      await ok('lon1', ['-a', NAME, '--dc', 'par1']);
      await lab.waitRoute(P, both, 10_000);
      console.log(`# daemon applied the clearing: par1's path back ${Math.round(performance.now() - c0)} ms after -a --dc started`);

      // etcd loses its quorum under the running daemon and gets it back: its watch recovers
      await etcd.kill(0);
      await etcd.kill(1);
      await sleep(1500);
      await etcd.start(0);
      await etcd.start(1);
      await etcd.waitHealthy();
      const r0 = performance.now();
      await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'after the outage']);
      await lab.waitRoute(P, (x) => from(x, 'par1') === null, 20_000);
      console.log(`# after etcd lost and regained quorum, the same daemon applied a fleet hold ${Math.round(performance.now() - r0)} ms after -d --dc started`);
      await ok('lon1', ['-a', NAME, '--dc', 'par1']);
      await lab.waitRoute(P, both, 20_000);

      // SIGHUP with a changed fleet section (another lease TTL): the reload, taken before the next
      // cycle, replaces the etcd client and the watch; the new watch acts on the next fleet hold,
      // and the host's record moves to a lease of the new TTL without dropping out of the fleet
      const fleetOf = (b: Record<string, unknown>) => b.fleet as { etcd: Record<string, unknown> };
      const reloaded = { ...base.par1!, fleet: { ...fleetOf(base.par1!), etcd: { ...fleetOf(base.par1!).etcd, lease_ttl: '45s' } } };
      await writeConfig(dir, reloaded, 'par1.yaml');
      child.kill('SIGHUP');
      await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'before the reload']); // the old watch asks; the reload comes first
      await lab.waitRoute(P, (x) => from(x, 'par1') === null, 20_000);
      for (const until = Date.now() + 10_000; !/configuration reloaded from/.test(log); await sleep(100)) assert.ok(Date.now() < until, `no reload logged: ${log}`);
      const h0 = performance.now();
      await ok('lon1', ['-a', NAME, '--dc', 'par1']);
      await lab.waitRoute(P, both, 20_000);
      console.log(`# after a SIGHUP reload, the daemon's new watch applied a clearing ${Math.round(performance.now() - h0)} ms after -a --dc started`);
      const d0 = performance.now();
      await ok('lon1', ['-d', NAME, '--dc', 'par1', '--reason', 'after the reload']);
      await lab.waitRoute(P, (x) => from(x, 'par1') === null, 20_000);
      console.log(`# ... and a fleet hold ${Math.round(performance.now() - d0)} ms after -d --dc started`);
      await ok('lon1', ['-a', NAME, '--dc', 'par1']);
      await lab.waitRoute(P, both, 20_000);
      const host = (await fleetJson('lon1')).hosts.find((h: any) => h.host === 'par1-lb1');
      assert.ok(host && !host.stale, `par1-lb1 is still a live member of the fleet after the reload: ${JSON.stringify(host)}`);
      assert.doesNotMatch(log, /reload failed|cannot watch/, log);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, log);
      await writeConfig(dir, base.par1!, 'par1.yaml');
    }
  });
});
