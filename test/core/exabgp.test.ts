// core/exabgp.ts: exabgpcli commands of a batch, and real ExaBGP 4.2 answers (test/fixtures/exabgp/lab.label) read into the Speaker shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  classifyExabgpcli,
  exabgpAsPath,
  exabgpCommands,
  exabgpPrefixStates,
  exabgpRouteCommands,
  parseAdjRibOut,
  parseNeighborExtensive,
  runningFromExabgp,
} from '../../src/core/exabgp.ts';
import { computedRouteMaps } from '../../src/core/policy.ts';

const fixture = (f: string) => readFileSync(new URL(`../fixtures/exabgp/${f}`, import.meta.url), 'utf8');
const RULE = { base: 0, datacenters: 2 };

test('the AS path of a route-map: the local AS prependsOf + 1 times (ExaBGP sends it as is; bgpd adds its own)', () => {
  assert.deepEqual(exabgpAsPath(64512, 'VIP-RANK-0', RULE), [64512]);
  assert.deepEqual(exabgpAsPath(64512, 'VIP-RANK-1', RULE), [64512, 64512]);
  assert.deepEqual(exabgpAsPath(64512, 'VIP-DRAIN', RULE), [64512, 64512, 64512]);
  assert.equal(exabgpAsPath(64512, 'NOPE', RULE), null);
});

test('one batch: withdraws per family, then one announce per family and route-map; VIP-DRAIN carries GRACEFUL_SHUTDOWN', () => {
  const cmds = exabgpCommands(
    64512,
    [
      { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-1' },
      { action: 'add', prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-1' },
      { action: 'add', prefix: '192.0.2.2/32', routeMap: 'VIP-RANK-1' },
      { action: 'add', prefix: '192.0.2.3/32', routeMap: 'VIP-DRAIN' },
      { action: 'delete', prefix: '192.0.2.4/32', routeMap: 'VIP-RANK-0' },
      { action: 'delete', prefix: '2001:db8::4/128', routeMap: null },
    ],
    RULE,
  ).map((c) => c.join(' '));
  assert.deepEqual(cmds, [
    'withdraw attributes next-hop self nlri 192.0.2.4/32',
    'withdraw attributes next-hop self nlri 2001:db8::4/128',
    'announce attributes next-hop self as-path [ 64512 64512 ] nlri 192.0.2.1/32 192.0.2.2/32',
    'announce attributes next-hop self as-path [ 64512 64512 ] nlri 2001:db8::1/128',
    'announce attributes next-hop self as-path [ 64512 64512 64512 ] community [ 65535:0 ] nlri 192.0.2.3/32',
  ]);
  assert.deepEqual(exabgpRouteCommands(64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }, { action: 'delete', prefix: '192.0.2.2/32', routeMap: null }], RULE).map((c) => c.join(' ')), [
    'announce route 192.0.2.1/32 next-hop self as-path [ 64512 ]',
    'withdraw route 192.0.2.2/32 next-hop self',
  ]);
  assert.throws(() => exabgpCommands(64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'OTHER' }], RULE), TypeError);
});

test('a big batch is split into bounded announce lines', () => {
  const changes = Array.from({ length: 1001 }, (_, i) => ({ action: 'add' as const, prefix: `192.0.${2 + (i >> 8)}.${i & 255}/32`, routeMap: 'VIP-RANK-0' }));
  assert.deepEqual(exabgpCommands(64512, changes, RULE).map((c) => c.indexOf('nlri') >= 0 ? c.length - c.indexOf('nlri') - 1 : 0), [500, 500, 1]);
});

test('show adj-rib out extensive (real capture) -> routes -> RunningBgp with route-maps from the path length', () => {
  const routes = parseAdjRibOut(fixture('adj-rib-out-extensive.txt'));
  assert.deepEqual(
    routes.map((r) => `${r.neighbor} ${r.family} ${r.prefix} ${r.asPath.join(',')} ${r.communities.join(',')} ${r.localAs}`),
    [
      '198.51.100.2 4 192.0.2.10/32 64512,64512,64512 65535:0 64512',
      '2001:db8:ffff:1::2 6 2001:db8::10/128 64512,64512  64512',
      '2001:db8:ffff:1::2 6 2001:db8::11/128 64512,64512  64512',
    ],
  );
  const running = runningFromExabgp(routes, 64512, RULE, computedRouteMaps(RULE), '');
  assert.equal(running.asn, 64512);
  assert.deepEqual(running.networks, [
    { prefix: '192.0.2.10/32', routeMap: 'VIP-DRAIN' },
    { prefix: '2001:db8::10/128', routeMap: 'VIP-RANK-1' },
    { prefix: '2001:db8::11/128', routeMap: 'VIP-RANK-1' },
  ]);
  assert.deepEqual(running.routeMaps, ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-DRAIN']);
  const st = exabgpPrefixStates(routes, ['192.0.2.10/32', '192.0.2.99/32']);
  assert.deepEqual(st.get('192.0.2.10/32'), { prefix: '192.0.2.10/32', inTable: true, valid: true, best: true, advertisedTo: 1 });
  assert.equal(st.get('192.0.2.99/32')!.inTable, false);
  // a path this tool would not send (another AS in it) has no route-map
  assert.equal(runningFromExabgp(parseAdjRibOut('neighbor 198.51.100.2 local-as 64512 ipv4 unicast 192.0.2.1/32 next-hop self as-path [ 64512 65001 ]'), 64512, RULE, [], '').networks[0]!.routeMap, null);
  assert.deepEqual(parseAdjRibOut(''), []);
});

test('show neighbor extensive (real capture): local AS and sessions', () => {
  const { localAs, neighbors } = parseNeighborExtensive(fixture('neighbor-extensive.txt'));
  assert.equal(localAs, 64512);
  assert.deepEqual(
    neighbors.map((n) => `${n.peer} ${n.remoteAs} ${n.state} ${n.families.join(',')}`),
    ['198.51.100.2 65000 Established ipv4Unicast', '2001:db8:ffff:1::2 65000 Established ipv6Unicast'],
  );
  const idle = parseNeighborExtensive('Neighbor 198.51.100.2\n\n  Session  Local\n   state   ACTIVE\n   down for  0:00:00\n\n  Setup  Local  Remote\n   AS   64512   n/a\n');
  assert.deepEqual(idle.neighbors.map((n) => `${n.state} ${n.remoteAs}`), ['Active null']);
});

test('exabgpcli verdicts: a rejection exits 0 and only says so; no daemon exits 1', () => {
  assert.deepEqual(classifyExabgpcli(0, ''), { kind: 'ok' });
  assert.equal(classifyExabgpcli(0, "ExaBGP returns an error (see ExaBGP's logs for more information)\nuse help for a list of available commands").kind, 'rejected');
  assert.deepEqual(classifyExabgpcli(1, 'could not send command to ExaBGP (command timeout)'), { kind: 'unavailable', message: 'could not send command to ExaBGP (command timeout)' });
  assert.equal(classifyExabgpcli(1, "could not find ExaBGP's named pipes (x.in and x.out) for the cli\nwe scanned the following folders").kind, 'unavailable');
});
