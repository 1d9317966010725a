// The policy function's table: services x DCs x literals x discover x conflicts (SPEC "Trusting inputs").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dcPolicy, guardSpeaker, outsidePrefixes, targetsFor } from '../../src/core/policy.ts';
import type { VipError } from '../../src/core/errors.ts';
import type { ResolvedName } from '../../src/core/types.ts';

const r = (name: string, ...addresses: string[]): ResolvedName => ({ name, chain: [], addresses, ttl: 60 });
const config = {
  vip_prefixes: ['192.0.2.0/24', '2001:db8::/48'],
  watchdog: { min_realservers: 1, restore_realservers: 3 },
  services: [
    { name: 'web.tld', prefer: ['par1', 'lon1'], min_realservers: 2, restore_realservers: undefined },
    { name: 'api.tld', prefer: ['lon1', 'par1'], min_realservers: 1, restore_realservers: 2 },
    { name: 'lon-only.tld', prefer: ['lon1'], min_realservers: 1, restore_realservers: undefined },
    { name: 'web-alias.tld', prefer: ['par1', 'lon1'], min_realservers: 3, restore_realservers: undefined },
    { name: 'clash.tld', prefer: ['lon1', 'par1'], min_realservers: 1, restore_realservers: undefined },
  ],
};
const answers = [
  r('web.tld', '192.0.2.1', '2001:db8::1'),
  r('api.tld', '192.0.2.2'),
  r('lon-only.tld', '192.0.2.3'),
  r('web-alias.tld', '192.0.2.1'), // same VIP, same rank: fine, strictest thresholds
  r('clash.tld', '192.0.2.1', '192.0.2.4', '198.51.100.9'), // .1 at another rank: conflict; .9 outside
];

type Row = [dc: string, prefix: string, verdict: string];
/** One line per (dc, VIP): "rank R min/restore (source) names" or "excluded CODE". */
function table(dc: string, resolved: ResolvedName[], discovered: string[] = []): Row[] {
  const p = dcPolicy(config, dc, resolved, discovered);
  const rows: Row[] = [];
  for (const [prefix, t] of p.targets) rows.push([dc, prefix, `rank ${t.rank} ${t.thresholds.min}/${t.thresholds.restore} (${t.source}) ${t.names.join(',')}`]);
  for (const [prefix, e] of p.excluded) rows.push([dc, prefix, `excluded ${e.code}`]);
  return rows.sort((a, b) => (a[1] < b[1] ? -1 : 1));
}

test('the policy table: each DC x VIP, whatever order DNS answered in', () => {
  const expected: Record<string, Row[]> = {
    par1: [
      ['par1', '192.0.2.1/32', 'excluded VIP_E_POLICY_CONFLICT'],
      ['par1', '192.0.2.2/32', 'rank 1 1/2 (service) api.tld'],
      ['par1', '192.0.2.3/32', 'excluded VIP_E_POLICY_DC'],
      ['par1', '192.0.2.4/32', 'rank 1 1/1 (service) clash.tld'],
      ['par1', '2001:db8::1/128', 'rank 0 2/2 (service) web.tld'],
    ],
    lon1: [
      ['lon1', '192.0.2.1/32', 'excluded VIP_E_POLICY_CONFLICT'],
      ['lon1', '192.0.2.2/32', 'rank 0 1/2 (service) api.tld'],
      ['lon1', '192.0.2.3/32', 'rank 0 1/1 (service) lon-only.tld'],
      ['lon1', '192.0.2.4/32', 'rank 0 1/1 (service) clash.tld'],
      ['lon1', '2001:db8::1/128', 'rank 1 2/2 (service) web.tld'],
    ],
    ams1: [
      ['ams1', '192.0.2.1/32', 'excluded VIP_E_POLICY_DC'],
      ['ams1', '192.0.2.2/32', 'excluded VIP_E_POLICY_DC'],
      ['ams1', '192.0.2.3/32', 'excluded VIP_E_POLICY_DC'],
      ['ams1', '192.0.2.4/32', 'excluded VIP_E_POLICY_DC'],
      ['ams1', '2001:db8::1/128', 'excluded VIP_E_POLICY_DC'],
    ],
  };
  for (const [dc, rows] of Object.entries(expected)) {
    assert.deepEqual(table(dc, answers), rows, dc);
    assert.deepEqual(table(dc, [...answers].reverse()), rows, `${dc}, answers reversed`);
  }
  const errors = dcPolicy(config, 'par1', answers).errors.map((e) => e.code).sort();
  assert.deepEqual(errors, ['VIP_E_POLICY_CONFLICT', 'VIP_E_POLICY_PREFIX']);
});

test('same VIP at the same rank from two services: strictest thresholds; watchdog-wide restore never leaks into services', () => {
  const p = dcPolicy(config, 'par1', [r('web.tld', '192.0.2.1'), r('web-alias.tld', '192.0.2.1')]);
  const t = p.targets.get('192.0.2.1/32')!;
  assert.deepEqual([t.rank, t.names, t.thresholds], [0, ['web.tld', 'web-alias.tld'], { min: 3, restore: 3 }]);
  // web.tld has min 2 and no restore: restore is 2, not watchdog.restore_realservers (3)
  assert.deepEqual(dcPolicy(config, 'par1', [r('web.tld', '192.0.2.1')]).targets.get('192.0.2.1/32')!.thresholds, { min: 2, restore: 2 });
});

test('discover: unclaimed IPVS VIPs inside vip_prefixes at rank 0 with the watchdog thresholds; never a VIP whose service leaves this DC out', () => {
  const p = dcPolicy(config, 'par1', answers, ['192.0.2.3', '192.0.2.50', '203.0.113.5', '192.0.2.2']);
  assert.equal(p.targets.has('192.0.2.3/32'), false, "lon-only.tld's VIP is not announced from par1");
  assert.equal(p.excluded.get('192.0.2.3/32')!.code, 'VIP_E_POLICY_DC');
  assert.deepEqual(p.targets.get('192.0.2.50/32'), {
    vip: { address: '192.0.2.50', family: 4, prefix: '192.0.2.50/32' },
    names: [],
    rank: 0,
    routeMap: 'VIP-RANK-0',
    thresholds: { min: 1, restore: 3 },
    source: 'discover',
  });
  assert.equal(p.targets.has('203.0.113.5/32'), false, 'outside vip_prefixes');
  assert.equal(p.targets.get('192.0.2.2/32')!.source, 'service', "a service's VIP keeps its service's rank");
});

test('services missing from the answers are reported unresolved', () => {
  assert.deepEqual(dcPolicy(config, 'par1', [r('web.tld', '192.0.2.1')]).unresolved, ['api.tld', 'lon-only.tld', 'web-alias.tld', 'clash.tld']);
});

test('-a/-d of a literal or an unlisted name keeps the rank of the service claiming the address', () => {
  const ok = [...answers.filter((a) => a.name !== 'clash.tld'), r('clash.tld', '192.0.2.4')];
  const p = dcPolicy(config, 'par1', ok);
  const rows = (asked: ResolvedName[], intent: 'add' | 'delete' = 'add') => {
    const { targets, errors } = targetsFor(config, p, asked, intent);
    return { targets: targets.map((t) => [t.vip.prefix, t.routeMap, t.source, t.names.join(',')]), errors: errors.map((e) => e.code) };
  };
  assert.deepEqual(rows([r('192.0.2.2', '192.0.2.2')]), { targets: [['192.0.2.2/32', 'VIP-RANK-1', 'service', 'api.tld']], errors: [] });
  assert.deepEqual(rows([r('other.tld', '192.0.2.2', '192.0.2.77')]), {
    targets: [
      ['192.0.2.2/32', 'VIP-RANK-1', 'service', 'api.tld'],
      ['192.0.2.77/32', 'VIP-RANK-0', 'literal', 'other.tld'],
    ],
    errors: [],
  });
  assert.deepEqual(rows([r('192.0.2.3', '192.0.2.3')]).errors, ['VIP_E_POLICY_DC'], "lon-only.tld's VIP is refused in par1");
  assert.deepEqual(rows([r('lon-only.tld', '192.0.2.3')]).errors, ['VIP_E_POLICY_DC']);
  assert.deepEqual(rows([r('198.51.100.1', '198.51.100.1')]).errors, ['VIP_E_POLICY_PREFIX']);
  assert.deepEqual(rows([r('API.TLD.', '192.0.2.2')]).targets, [['192.0.2.2/32', 'VIP-RANK-1', 'service', 'api.tld']]);
});

test('adding a literal while a service did not resolve is refused (its rank is unknown); deleting it is not', () => {
  const p = dcPolicy(config, 'par1', [r('web.tld', '192.0.2.1')]);
  assert.deepEqual(targetsFor(config, p, [r('192.0.2.2', '192.0.2.2')], 'add').errors.map((e) => [e.code, e.exit]), [['VIP_E_DNS_TIMEOUT', 4]]);
  assert.deepEqual(targetsFor(config, p, [r('192.0.2.2', '192.0.2.2')], 'delete').targets.map((t) => t.vip.prefix), ['192.0.2.2/32']);
  assert.deepEqual(targetsFor(config, p, [r('web.tld', '192.0.2.1')], 'add').errors, [], 'a resolved service needs no other answer');
});

test('speaker boundary: changes outside vip_prefixes or not host prefixes are caught', () => {
  const bad = outsidePrefixes(
    [
      { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
      { action: 'delete', prefix: '198.51.100.1/32', routeMap: null },
      { action: 'add', prefix: '192.0.2.0/24', routeMap: 'VIP-RANK-0' },
      { action: 'add', prefix: 'nonsense', routeMap: null },
    ],
    config.vip_prefixes,
  );
  assert.deepEqual(bad.map((c) => c.prefix), ['198.51.100.1/32', '192.0.2.0/24', 'nonsense']);
});

test('guardSpeaker: a batch touching anything outside vip_prefixes is refused whole, nothing sent; other methods pass through', async () => {
  const sent: unknown[] = [];
  const inner = {
    readRunning: async () => ({ asn: 1, networks: [], routeMaps: [], text: '' }),
    apply: async (_asn: number, changes: unknown[]) => void sent.push(changes),
    lookup: async () => new Map(),
    extra() {
      return 'kept';
    },
  };
  const g = guardSpeaker(inner, config.vip_prefixes);
  await assert.rejects(
    g.apply(64512, [
      { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
      { action: 'delete', prefix: '198.51.100.1/32', routeMap: null },
    ]),
    (e: VipError) => e.code === 'VIP_E_POLICY_PREFIX' && e.exit === 5 && /delete 198\.51\.100\.1\/32/.test(e.message),
  );
  assert.deepEqual(sent, []);
  await g.apply(64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }]);
  assert.equal(sent.length, 1);
  assert.equal(g.extra(), 'kept');
});

test('prependsOf: the one route-map -> prepend count rule (render and the AS-path speakers), and back', async () => {
  const { prependsOf, routeMapOfPrepends, computedRouteMaps } = await import('../../src/core/policy.ts');
  const rule = { base: 1, datacenters: 3 };
  assert.deepEqual(['VIP-RANK-0', 'VIP-RANK-2', 'VIP-DRAIN', 'OTHER', 'VIP-RANK-01'].map((m) => prependsOf(m, rule)), [1, 3, 4, null, null]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => routeMapOfPrepends(n, rule)), [null, 'VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2', 'VIP-DRAIN', null]);
  assert.deepEqual(computedRouteMaps(rule), ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2', 'VIP-DRAIN']);
});
