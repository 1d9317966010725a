// Unit tests: route-map choice, policy refusals, the add/delete diff and read-back verification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingRouteMaps, planAdd, planDelete, speakerChanges, verify } from '../../src/core/plan.ts';
import { dcPolicy, targetsFor } from '../../src/core/policy.ts';
import type { ResolvedName, RunningBgp } from '../../src/core/types.ts';

const config = {
  dc: 'par1',
  vip_prefixes: ['192.0.2.0/24', '2001:db8::/48'],
  services: [
    { name: 'a.tld', prefer: ['par1', 'lon1'], min_realservers: 1 },
    { name: 'b.tld', prefer: ['lon1', 'par1'], min_realservers: 1 },
    { name: 'c.tld', prefer: ['lon1'], min_realservers: 1 },
  ],
};
const r = (name: string, ...addresses: string[]): ResolvedName => ({ name, chain: [], addresses, ttl: 60 });
const running = (networks: [string, string | null][], routeMaps = ['VIP-RANK-0', 'VIP-RANK-1']): RunningBgp => ({
  asn: 64512,
  networks: networks.map(([prefix, routeMap]) => ({ prefix, routeMap })),
  routeMaps,
  text: '',
});

/** The targets of ASKED names, with every service's answer known (SERVICES, then the asked ones). */
const tfor = (asked: ResolvedName[], services: ResolvedName[] = [], intent: 'add' | 'delete' = 'add') => {
  const all = [...services, ...asked, ...config.services.map((s) => r(s.name))];
  const seen = new Set<string>();
  const answers = all.filter((x) => !seen.has(x.name) && seen.add(x.name));
  return targetsFor(config, dcPolicy({ ...config, watchdog: undefined }, 'par1', answers), asked, intent);
};

test('targets carry the route-map of their rank, merged and sorted', () => {
  const { targets, errors } = tfor([r('b.tld', '2001:db8::1', '192.0.2.2'), r('x.tld', '192.0.2.1')]);
  assert.deepEqual(errors, []);
  assert.deepEqual(targets.map((t) => [t.vip.prefix, t.routeMap]), [
    ['192.0.2.1/32', 'VIP-RANK-0'],
    ['192.0.2.2/32', 'VIP-RANK-1'],
    ['2001:db8::1/128', 'VIP-RANK-1'],
  ]);
});

test('policy: outside vip_prefixes, DC not in prefer, and conflicting ranks are refused', () => {
  const out = tfor([r('a.tld', '192.0.2.1', '198.51.100.1')]);
  assert.deepEqual(out.errors.map((e) => [e.code, e.exit]), [['VIP_E_POLICY_PREFIX', 5]]);
  assert.match(out.errors[0]!.message, /198\.51\.100\.1.*outside vip_prefixes/);
  assert.equal(tfor([r('c.tld', '192.0.2.3')]).errors[0]!.code, 'VIP_E_POLICY_DC');
  const conflict = tfor([r('a.tld', '192.0.2.4'), r('b.tld', '192.0.2.4')]);
  assert.equal(conflict.errors[0]!.code, 'VIP_E_POLICY_CONFLICT');
});

test('add plans only what differs; a second add is a no-op', () => {
  const { targets } = tfor([r('a.tld', '192.0.2.1', '192.0.2.2', '2001:db8::1')]);
  const plan = planAdd(targets, running([['192.0.2.1/32', 'VIP-RANK-0'], ['192.0.2.2/32', 'VIP-RANK-1']]));
  assert.deepEqual(plan.map((c) => [c.vip.prefix, c.action]), [
    ['192.0.2.1/32', 'none'],
    ['192.0.2.2/32', 'add'],
    ['2001:db8::1/128', 'add'],
  ]);
  assert.match(plan[1]!.reason, /VIP-RANK-1 -> VIP-RANK-0/);
  assert.deepEqual(speakerChanges(plan), [
    { action: 'add', prefix: '192.0.2.2/32', routeMap: 'VIP-RANK-0' },
    { action: 'add', prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-0' },
  ]);
  const again = planAdd(targets, running(targets.map((t) => [t.vip.prefix, 'VIP-RANK-0'] as [string, string])));
  assert.deepEqual(speakerChanges(again), []);
});

test('delete withdraws only configured VIPs', () => {
  const { targets } = tfor([r('a.tld', '192.0.2.1', '192.0.2.2')]);
  const plan = planDelete(targets, running([['192.0.2.1/32', 'VIP-RANK-0']]), 'kernel upgrade');
  assert.deepEqual(speakerChanges(plan), [{ action: 'delete', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }]);
  assert.equal(plan[0]!.reason, 'kernel upgrade');
  assert.equal(plan[1]!.action, 'none');
});

test('route-maps missing from the running config are reported (FRR would drop the network silently)', () => {
  const { targets } = tfor([r('b.tld', '192.0.2.9')]);
  const plan = planAdd(targets, running([], ['VIP-RANK-0']));
  assert.deepEqual(missingRouteMaps(plan, running([], ['VIP-RANK-0'])), ['VIP-RANK-1']);
  assert.deepEqual(missingRouteMaps(plan, running([])), []);
});

test('verify: configured but not in the BGP table says why', () => {
  const { targets } = tfor([r('a.tld', '192.0.2.1')]);
  const [c] = planAdd(targets, running([]));
  const after = running([['192.0.2.1/32', 'VIP-RANK-0']]);
  const absent = verify('add', c!, after, undefined);
  assert.equal(absent.verified, false);
  assert.match(absent.problem!, /configured but not in BGP table: is the VIP on a local interface\?/);
  const ok = verify('add', c!, after, { prefix: '192.0.2.1/32', inTable: true, valid: true, best: true, advertisedTo: 1 });
  assert.equal(ok.verified, true);
  assert.equal(verify('add', c!, running([['192.0.2.1/32', 'VIP-RANK-1']]), undefined).verified, false);
  assert.equal(verify('delete', c!, running([]), undefined).verified, true);
  assert.equal(verify('delete', c!, after, undefined).verified, false);
  assert.equal(verify('delete', c!, running([]), { prefix: '192.0.2.1/32', inTable: true, valid: true, best: true, advertisedTo: 1 }).verified, false);
});
