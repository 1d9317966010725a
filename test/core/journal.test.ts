// core/journal.ts: what a speaker lost on a restart (ExaBGP/GoBGP: everything; FRR/Quagga: literal addresses) and the journal wants back, and how it joins a run's batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healLost, healScope, mergeHealing } from '../../src/core/journal.ts';
import type { RunningBgp, State } from '../../src/core/types.ts';

const NOW = new Date('2026-12-02T01:00:00Z');
const running = (nets: [string, string | null][]): RunningBgp => ({ asn: 64512, networks: nets.map(([prefix, routeMap]) => ({ prefix, routeMap })), routeMaps: [], text: '' });
const ann = (routeMap: string) => ({ routeMap, source: 'service' as const, since: '2026-12-01T00:00:00Z' });
const hold = (drain?: string) => ({ reason: 'm', by: 'op', since: '2026-12-01T00:00:00Z', names: [], ...(drain ? { drain: { until: drain } } : {}) });
const VP = ['192.0.2.0/24', '2001:db8::/48'];

test('what the journal wants and the speaker lacks is healed, with the journal\'s route-map', () => {
  const state: Pick<State, 'announced' | 'holds'> = {
    announced: { '192.0.2.1/32': ann('VIP-RANK-1'), '192.0.2.2/32': ann('VIP-RANK-0'), '2001:db8::1/128': ann('VIP-RANK-1') },
    holds: {},
  };
  const h = healLost(running([['192.0.2.2/32', 'VIP-RANK-0']]), state, VP, NOW);
  assert.deepEqual(h.heal, [
    { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-1' },
    { action: 'add', prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-1' },
  ]);
  assert.deepEqual(h.running.networks.map((n) => n.prefix).sort(), ['192.0.2.1/32', '192.0.2.2/32', '2001:db8::1/128']);
});

test('scope: FRR and Quagga lose only literal addresses (their reloaded config has what render printed), BIRD nothing, ExaBGP/GoBGP everything', () => {
  assert.deepEqual(['frr', 'quagga', 'bird'].map((k) => healScope(k as 'frr', false)), ['literals', 'literals', 'none']);
  assert.deepEqual(['exabgp', 'gobgp'].map((k) => healScope(k as 'exabgp', true)), ['all', 'all']);
  const state: Pick<State, 'announced' | 'holds'> = {
    announced: { '192.0.2.1/32': ann('VIP-RANK-1'), '192.0.2.81/32': { ...ann('VIP-RANK-0'), source: 'literal' as const }, '192.0.2.5/32': { ...ann('VIP-RANK-0'), source: 'discover' as const } },
    holds: {},
  };
  assert.deepEqual(healLost(running([]), state, VP, NOW, 'literals').heal, [{ action: 'add', prefix: '192.0.2.81/32', routeMap: 'VIP-RANK-0' }]);
  assert.deepEqual(healLost(running([]), state, VP, NOW, 'none').heal, []);
  assert.equal(healLost(running([]), state, VP, NOW, 'all').heal.length, 3);
});

test('nothing lost: running is returned as it is', () => {
  const r = running([['192.0.2.1/32', 'VIP-RANK-1']]);
  const h = healLost(r, { announced: { '192.0.2.1/32': ann('VIP-RANK-1') }, holds: {} }, VP, NOW);
  assert.deepEqual(h.heal, []);
  assert.equal(h.running, r);
});

test('a held VIP stays withdrawn; a graceful drain still on is re-announced with VIP-DRAIN; outside vip_prefixes never', () => {
  const state: Pick<State, 'announced' | 'holds'> = {
    announced: { '192.0.2.1/32': ann('VIP-RANK-0'), '192.0.2.2/32': ann('VIP-DRAIN'), '192.0.2.3/32': ann('VIP-DRAIN'), '198.51.100.1/32': ann('VIP-RANK-0') },
    holds: { '192.0.2.1/32': hold(), '192.0.2.2/32': hold('2026-12-02T02:00:00Z'), '192.0.2.3/32': hold('2026-12-02T00:00:00Z') },
  };
  assert.deepEqual(healLost(running([]), state, VP, NOW).heal, [{ action: 'add', prefix: '192.0.2.2/32', routeMap: 'VIP-DRAIN' }]);
});

test('merge: a planned change of a healed prefix replaces its heal; a delete of a lost route is dropped', () => {
  const heal = [
    { action: 'add' as const, prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
    { action: 'add' as const, prefix: '192.0.2.2/32', routeMap: 'VIP-RANK-0' },
    { action: 'add' as const, prefix: '192.0.2.3/32', routeMap: 'VIP-RANK-0' },
  ];
  const planned = [
    { action: 'add' as const, prefix: '192.0.2.2/32', routeMap: 'VIP-DRAIN' },
    { action: 'delete' as const, prefix: '192.0.2.3/32', routeMap: 'VIP-RANK-0' },
    { action: 'delete' as const, prefix: '192.0.2.9/32', routeMap: 'VIP-RANK-0' },
  ];
  assert.deepEqual(mergeHealing(heal, planned), [heal[0], planned[0], planned[2]]);
});
