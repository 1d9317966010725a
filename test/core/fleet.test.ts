// Step tables for fleet mode's pure part: the last-DC guard, fleet holds merged into the watchdog cycle, what a host publishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planCycle, type CycleConfig, type FleetCycleInput } from '../../src/core/cycle.ts';
import { fleetHoldsFor, guardMessage, healthyFor, hostKey, holdKey, hostRecord, lastDcGuard, parseFleetHold, parseHostRecord, type HostRecord } from '../../src/core/fleet.ts';
import { ipvsTable } from '../fixtures/ipvs-tables.ts';
import { emptyState } from '../../src/core/state.ts';
import type { RunningBgp, State } from '../../src/core/types.ts';

const host = (dc: string, name: string, vips: HostRecord['vips']): HostRecord => ({ v: 1, host: name, dc, at: '2026-12-02T00:00:00Z', by: 'watchdog', vips });
const up = (rm = 'VIP-RANK-0') => ({ routeMap: rm, live: 2, state: 'up' as const });
const P = '192.0.2.1/32';

test('keys are versioned under the prefix', () => {
  assert.equal(hostKey('/vip-mgmt/', 'par1', 'lb1'), '/vip-mgmt/v1/hosts/par1/lb1');
  assert.equal(holdKey('/vip-mgmt/', 'par1', 'web.tld'), '/vip-mgmt/v1/holds/par1/web.tld');
});

test('healthyFor: announced with a rank route-map, not held, not down/falling, live not 0', () => {
  const rows: [HostRecord['vips'][string] | undefined, boolean][] = [
    [undefined, false],
    [up(), true],
    [{ routeMap: null, live: 2, state: 'up' }, false],
    [{ routeMap: 'VIP-DRAIN', live: 2, state: 'up' }, false],
    [{ ...up(), hold: { source: 'fleet', reason: 'x', by: 'a', since: 's' } }, false],
    [{ routeMap: 'VIP-RANK-1', live: 0, state: 'falling' }, false],
    [{ routeMap: 'VIP-RANK-1', live: 0, state: 'down' }, false],
    [{ routeMap: 'VIP-RANK-1', live: null, state: null }, true], // announced by -a, never watched
    [{ routeMap: 'VIP-RANK-1', live: 0, state: null }, false],
  ];
  for (const [v, want] of rows) assert.equal(healthyFor(host('par1', 'lb1', v ? { [P]: v } : {}), P), want, JSON.stringify(v));
});

test('lastDcGuard: refused only when a leaver announces it and nobody else healthy does', () => {
  const par = host('par1', 'lb1', { [P]: up() });
  const lonUp = host('lon1', 'lb1', { [P]: up('VIP-RANK-1') });
  const lonDown = host('lon1', 'lb1', { [P]: { routeMap: 'VIP-RANK-1', live: 0, state: 'falling' } });
  const lonHeld = host('lon1', 'lb2', { [P]: { routeMap: null, live: 2, state: 'held', hold: { source: 'fleet', reason: 'upgrade', by: 'op@x', since: 's' } } });
  const parDc = (h: { dc: string }) => h.dc === 'par1';
  assert.deepEqual(lastDcGuard([par, lonUp], [P], parDc), []);
  const refused = lastDcGuard([par, lonDown, lonHeld], [P], parDc);
  assert.deepEqual(refused, [{ prefix: P, leaving: ['par1/lb1'], others: [{ host: 'lon1/lb1', why: 'watchdog falling, live 0' }, { host: 'lon1/lb2', why: 'held (fleet: upgrade)' }] }]);
  assert.match(guardMessage(refused, 'Use --force.'), /192\.0\.2\.1\/32 \(withdrawn by par1\/lb1; lon1\/lb1: watchdog falling.*lon1\/lb2: held/);
  // a host whose lease expired is not in the list at all: par1 is then the last one
  assert.equal(lastDcGuard([par], [P], parDc).length, 1);
  // nothing announced by the leavers: withdrawing changes nothing, nothing to refuse
  assert.deepEqual(lastDcGuard([host('par1', 'lb1', {}), lonDown], [P], parDc), []);
  // a second LB of the same DC still announcing healthily keeps the VIP on the internet
  const self = (h: { dc: string; host: string }) => h.dc === 'par1' && h.host === 'lb1';
  assert.deepEqual(lastDcGuard([par, host('par1', 'lb2', { [P]: up() })], [P], self, () => true), []);
});

test('fleetHoldsFor: only this DC, keyed by prefix, oldest first', () => {
  const hs = [
    { v: 1 as const, dc: 'par1', name: 'web.tld', prefixes: [P, '2001:db8::1/128'], reason: 'fibre cut', by: 'op@lon1-lb1', since: '2026-12-02T01:00:00Z' },
    { v: 1 as const, dc: 'lon1', name: 'web.tld', prefixes: [P], reason: 'other', by: 'op@x', since: '2026-12-02T00:00:00Z' },
    { v: 1 as const, dc: 'par1', name: '192.0.2.1', prefixes: [P], reason: 'later', by: 'op@y', since: '2026-12-02T02:00:00Z' },
  ];
  const h = fleetHoldsFor('par1', hs);
  assert.deepEqual(Object.keys(h).sort(), ['192.0.2.1/32', '2001:db8::1/128']);
  assert.deepEqual(h[P], { reason: 'fibre cut', by: 'op@lon1-lb1', since: '2026-12-02T01:00:00Z', names: ['web.tld', '192.0.2.1'] });
});

test('records from etcd are validated: another version or junk is null, never a crash', () => {
  assert.equal(parseHostRecord('{"v":2}'), null);
  assert.equal(parseHostRecord('not json'), null);
  assert.equal(parseFleetHold('{"v":1,"dc":"par1","name":"x","prefixes":[1],"reason":"r","by":"b","since":"s"}'), null);
  const rec = host('par1', 'lb1', { [P]: up() });
  assert.deepEqual(parseHostRecord(JSON.stringify(rec)), rec);
});

test('hostRecord publishes announced, watched and held VIPs inside vip_prefixes, local holds over fleet ones', () => {
  const state: Pick<State, 'holds' | 'watchdog'> = {
    holds: { '192.0.2.2/32': { reason: 'local', by: 'op', since: 's', names: ['api.tld'] } },
    watchdog: { [P]: { state: 'up', count: 0, live: 3, since: 's' } },
  };
  const rec = hostRecord({
    host: 'lb1',
    dc: 'par1',
    at: new Date('2026-12-02T00:00:00Z'),
    by: 'watchdog',
    running: { networks: [{ prefix: P, routeMap: 'VIP-RANK-0' }, { prefix: '10.0.0.0/8', routeMap: null }] },
    state,
    fleetHolds: { '192.0.2.2/32': { reason: 'fleet', by: 'x', since: 's', names: [] }, '192.0.2.3/32': { reason: 'fleet', by: 'x', since: 's', names: [] } },
    inside: (p) => p.startsWith('192.0.2.'),
  });
  assert.deepEqual(rec.vips, {
    [P]: { routeMap: 'VIP-RANK-0', live: 3, state: 'up' },
    '192.0.2.2/32': { routeMap: null, live: null, state: null, hold: { source: 'local', reason: 'local', by: 'op', since: 's' } },
    '192.0.2.3/32': { routeMap: null, live: null, state: null, hold: { source: 'fleet', reason: 'fleet', by: 'x', since: 's' } },
  });
});

// ---- the cycle with fleet input ---------------------------------------------------------------

const cfg = {
  dc: 'par1',
  vip_prefixes: ['192.0.2.0/24'],
  services: [{ name: 'web.tld', prefer: ['par1', 'lon1'], min_realservers: 1, live_from: 'ipvs', checks: [] }],
  watchdog: { rise: 1, fall: 1, settle: 2, down_action: 'withdraw', ipvs: { source: 'proc', path: '', ipvsadm: '' }, fwmarks: {}, exclude_realservers: [], discover: false, metrics_file: '', min_realservers: 1 },
} as unknown as CycleConfig;
const resolved = [{ name: 'web.tld', chain: [], addresses: ['192.0.2.1'], ttl: 60 }];
const running = (rm: string | null, maps = ['VIP-RANK-0', 'VIP-RANK-1']): RunningBgp => ({ asn: 64512, networks: rm ? [{ prefix: P, routeMap: rm }] : [], routeMaps: maps, text: '' });
const cycle = (live: number[], run: RunningBgp, fleet?: FleetCycleInput, state: State = emptyState()) =>
  planCycle({ config: cfg, resolved, ipvs: ipvsTable({ '192.0.2.1': live }), running: run, state, now: new Date('2026-12-02T00:00:00Z'), ...(fleet ? { fleet } : {}) });
const self = { dc: 'par1', host: 'lb1' };

test('a fleet hold for this DC withdraws like a local one, and is never written into local state', () => {
  const fleet: FleetCycleInput = { holds: { [P]: { reason: 'fibre cut', by: 'op@lon1-lb1', since: 's', names: ['web.tld'] } }, guard: null };
  const plan = cycle([1, 1], running('VIP-RANK-0'), fleet);
  assert.deepEqual(plan.changes, [{ action: 'delete', prefix: P, routeMap: 'VIP-RANK-0' }]);
  assert.match(plan.rows[0]!.why, /fleet hold on dc par1: fibre cut/);
  assert.deepEqual(plan.state.holds, {});
  // cleared: restored by the watchdog (rise 1)
  const back = cycle([1, 1], running(null), { holds: {}, guard: null }, plan.state);
  assert.deepEqual(back.changes, [{ action: 'add', prefix: P, routeMap: 'VIP-RANK-0' }]);
});

test('guard: the last healthy announcer keeps its route when its reals die (kept, or demoted with VIP-DRAIN), error VIP_E_POLICY_LAST_DC', () => {
  const lonHeld = host('lon1', 'lb1', { [P]: { routeMap: null, live: 2, state: 'held', hold: { source: 'fleet', reason: 'drain', by: 'op', since: 's' } } });
  const guard = { hosts: [host('par1', 'lb1', { [P]: up() }), lonHeld], self };
  const kept = cycle([0, 0], running('VIP-RANK-0'), { holds: {}, guard });
  assert.deepEqual(kept.changes, []);
  assert.deepEqual(kept.errors.map((e) => e.code), ['VIP_E_POLICY_LAST_DC']);
  assert.match(kept.errors[0]!.message, /192\.0\.2\.1\/32.*lon1\/lb1: held/);
  const demoted = cycle([0, 0], running('VIP-RANK-0', ['VIP-RANK-0', 'VIP-DRAIN']), { holds: {}, guard });
  assert.deepEqual(demoted.changes, [{ action: 'add', prefix: P, routeMap: 'VIP-DRAIN' }]);
  assert.ok(demoted.events.some((e) => e.level === 'info' && /> demote route \(last healthy announcer/.test(e.msg)));
  // lon1 healthy again: the withdrawal goes ahead
  const ok = cycle([0, 0], running('VIP-RANK-0'), { holds: {}, guard: { hosts: [host('lon1', 'lb1', { [P]: up('VIP-RANK-1') })], self } });
  assert.deepEqual(ok.changes, [{ action: 'delete', prefix: P, routeMap: 'VIP-RANK-0' }]);
  assert.deepEqual(ok.errors, []);
});

test('guard unknown (etcd unreachable): no health-driven withdrawal, holds still enforced; guard none: local behaviour', () => {
  const unknown = cycle([0], running('VIP-RANK-0'), { holds: {}, guard: { unknown: 'etcd unreachable' } });
  assert.deepEqual(unknown.changes, []);
  assert.match(unknown.errors[0]!.message, /etcd unreachable: the last-DC guard cannot be checked/);
  const held = cycle([0], running('VIP-RANK-0'), { holds: { [P]: { reason: 'cached', by: 'op', since: 's', names: [] } }, guard: { unknown: 'etcd unreachable' } });
  assert.deepEqual(held.changes, [{ action: 'delete', prefix: P, routeMap: 'VIP-RANK-0' }]);
  const none = cycle([0], running('VIP-RANK-0'), { holds: {}, guard: null });
  assert.deepEqual(none.changes, [{ action: 'delete', prefix: P, routeMap: 'VIP-RANK-0' }]);
  // no fleet at all: exactly as before
  assert.deepEqual(cycle([0], running('VIP-RANK-0')).changes, none.changes);
});

// ---- doctor ---------------------------------------------------------------------------------------

test('doctor fleetChecks: members, quorum by a linearizable read, clock skew, this host, certificate expiry', async () => {
  const { fleetChecks } = await import('../../src/core/doctor.ts');
  const m = (endpoint: string, leader: string, skewMs: number | null = 100) => ({ endpoint, ok: true, version: '3.4.23', leader, memberId: 'x', skewMs });
  const base = { host: 'lb1', dc: 'par1', leaseTtlMs: 180_000, certs: [] };
  const good = fleetChecks({ ...base, endpoints: [m('http://a:2379', '1'), m('http://b:2379', '1'), { endpoint: 'http://c:2379', ok: false, error: 'ECONNREFUSED' }], read: { ms: 3, hosts: 2, holds: 0, self: true } });
  assert.deepEqual(good.map((c) => [c.id, c.verdict]), [
    ['etcd:http://a:2379', 'ok'],
    ['etcd:http://b:2379', 'ok'],
    ['etcd:http://c:2379', 'warn'],
    ['etcd-quorum', 'ok'],
    ['fleet-record', 'ok'],
    ['clock-skew', 'ok'],
  ]);
  const noQuorum = fleetChecks({ ...base, endpoints: [m('http://a:2379', '0', 5000)], read: { error: { code: 'VIP_E_FLEET_TIMEOUT', message: 'no answer within 2000 ms' } } });
  assert.deepEqual(noQuorum.map((c) => [c.id, c.verdict]), [['etcd:http://a:2379', 'ok'], ['etcd-quorum', 'fail'], ['clock-skew', 'warn']]);
  assert.match(noQuorum[0]!.detail, /NO LEADER/);
  const skewed = fleetChecks({ ...base, endpoints: [m('http://a:2379', '1', -60_000)], read: { ms: 3, hosts: 0, holds: 0, self: false } });
  assert.deepEqual(skewed.map((c) => [c.id, c.verdict]), [['etcd:http://a:2379', 'ok'], ['etcd-quorum', 'ok'], ['fleet-record', 'warn'], ['clock-skew', 'fail']]);
  const certs = fleetChecks({
    ...base,
    endpoints: [],
    read: { ms: 1, hosts: 0, holds: 0, self: true },
    certs: [
      { role: 'ca', path: '/ca.pem', days: 400, validTo: 'Jan 1 2028' },
      { role: 'cert', path: '/c.pem', days: 12.5, validTo: 'Dec 14 2026' },
    ],
  });
  assert.deepEqual(certs.slice(-2).map((c) => [c.id, c.verdict, c.detail]), [
    ['tls-ca', 'ok', 'valid until Jan 1 2028 (400 days)'],
    ['tls-cert', 'warn', 'expires in 12 days (Dec 14 2026)'],
  ]);
  assert.equal(fleetChecks({ ...base, endpoints: [], read: { ms: 1, hosts: 0, holds: 0, self: true }, certs: [{ role: 'cert', path: '/c.pem', days: -1, validTo: 'x' }] }).at(-1)!.verdict, 'fail');
});

test('withLeaving: a VIP another host announced it is withdrawing does not count as healthy there; this host\'s own intent is left out', async () => {
  const { withLeaving, notHealthyWhy, parseLeaving, leavingKey } = await import('../../src/core/fleet.ts');
  const Q = '192.0.2.2/32';
  const par = host('par1', 'lb1', { [P]: up(), [Q]: up() });
  const lon = host('lon1', 'lb1', { [P]: up('VIP-RANK-1'), [Q]: up('VIP-RANK-1') });
  const lonLeaving = { v: 1 as const, dc: 'lon1', host: 'lb1', prefixes: [P], at: 't', by: 'watchdog' };
  const parLeaving = { ...lonLeaving, dc: 'par1' };
  // par1 decides while lon1's run withdraws P: P has no healthy host left besides par1, Q does
  const seen = withLeaving([par, lon], [lonLeaving, parLeaving], { dc: 'par1', host: 'lb1' });
  assert.equal(seen[0], par, "this host's own intent changes nothing");
  assert.deepEqual([healthyFor(seen[1]!, P), healthyFor(seen[1]!, Q)], [false, true]);
  assert.equal(notHealthyWhy(seen[1]!, P), 'withdrawing it at this moment (its run announced so)');
  const refused = lastDcGuard(seen, [P, Q], (h) => h.dc === 'par1');
  assert.deepEqual(refused.map((r) => [r.prefix, r.others]), [[P, [{ host: 'lon1/lb1', why: 'withdrawing it at this moment (its run announced so)' }]]]);
  // without intents the records pass through untouched
  assert.deepEqual(withLeaving([par, lon], [], { dc: 'par1', host: 'lb1' }), [par, lon]);
  assert.equal(leavingKey('/vip-mgmt/', 'par1', 'lb1'), '/vip-mgmt/v1/leaving/par1/lb1');
  assert.deepEqual(parseLeaving(JSON.stringify(lonLeaving)), lonLeaving);
  for (const bad of ['', '{}', '{"v":2,"dc":"a","host":"b","prefixes":[]}', '{"v":1,"dc":"a","host":"b","prefixes":[1]}']) assert.equal(parseLeaving(bad), null, bad);
});

test('withFleetHolds: a VIP under a fleet hold of its DC counts as held before that DC has withdrawn it', async () => {
  const { withFleetHolds } = await import('../../src/core/fleet.ts');
  const par = host('par1', 'lb1', { [P]: up() });
  const lon = host('lon1', 'lb1', { [P]: up('VIP-RANK-1') });
  const holdLon = { v: 1 as const, dc: 'lon1', name: 'web.tld', prefixes: [P], reason: 'other operator', by: 'b@x', since: 's' };
  // a second operator drains par1 right after the first drained lon1 (lon1 has not run yet)
  const seen = withFleetHolds([par, lon], [holdLon]);
  assert.equal(healthyFor(seen[1]!, P), false);
  assert.equal(seen[0], par, 'hosts of other DCs are left as they are');
  const refused = lastDcGuard(seen, [P], (h) => h.dc === 'par1');
  assert.deepEqual(refused.map((r) => r.others), [[{ host: 'lon1/lb1', why: 'held (fleet: other operator)' }]]);
  assert.deepEqual(lastDcGuard(withFleetHolds([par, lon], []), [P], (h) => h.dc === 'par1'), []);
});

test('fleetStatus: per VIP x host, least healthy first, stale when the last run is older than half the lease; dcCell summarises a DC', async () => {
  const { fleetStatus, dcCell } = await import('../../src/core/fleet.ts');
  const Q = '192.0.2.2/32';
  const hosts = [
    { ...host('par1', 'lb1', { [P]: up(), [Q]: up() }), at: '2026-12-02T00:59:00Z' },
    { ...host('par1', 'lb2', { [P]: { routeMap: null, live: 2, state: 'held' as const, hold: { source: 'fleet' as const, reason: 'r', by: 'b', since: 's' } }, [Q]: up() }), at: '2026-12-02T00:59:30Z' },
    { ...host('lon1', 'lb1', { [P]: { routeMap: 'VIP-RANK-1', live: 0, state: 'falling' as const }, [Q]: up('VIP-RANK-1') }), at: '2026-12-02T00:50:00Z' },
  ];
  const st = fleetStatus(hosts, [], new Date('2026-12-02T01:00:00Z'), 180_000);
  assert.deepEqual(st.hosts.map((h) => [h.dc, h.host, h.stale]), [['lon1', 'lb1', true], ['par1', 'lb1', false], ['par1', 'lb2', false]]);
  assert.deepEqual(st.vips.map((v) => [v.prefix, v.healthy, v.announced, v.hosts.length]), [[P, 1, 2, 3], [Q, 3, 3, 3]]);
  const byDc = (dc: string) => st.vips[0]!.hosts.filter((h) => h.dc === dc);
  assert.equal(dcCell(byDc('par1')), '1/2 held fleet');
  assert.equal(dcCell(byDc('lon1')), '0/1 falling (stale)');
  assert.equal(dcCell([]), '-');
  // NAMEs narrow it to their VIPs
  assert.deepEqual(fleetStatus(hosts, [], new Date('2026-12-02T01:00:00Z'), 180_000, new Set([Q])).vips.map((v) => v.prefix), [Q]);
});
