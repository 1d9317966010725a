// core/gobgp.ts: gobgp argv of each change, and real GoBGP 3.10 JSON answers (test/fixtures/gobgp/lab.label) read into the Speaker shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gobgpApiPath, gobgpAsPath, gobgpChangeArgv, gobgpPrefixStates, gobgpUnreachable, parseGlobal, parseGlobalRib, parseNeighbors, runningFromGobgp } from '../../src/core/gobgp.ts';
import { computedRouteMaps } from '../../src/core/policy.ts';

const fixture = (f: string) => readFileSync(new URL(`../fixtures/gobgp/${f}`, import.meta.url), 'utf8');
const RULE = { base: 0, datacenters: 2 };

test('the aspath of a route-map: the local AS prependsOf times (GoBGP adds its own on eBGP)', () => {
  assert.deepEqual(gobgpAsPath(64512, 'VIP-RANK-0', RULE), []);
  assert.deepEqual(gobgpAsPath(64512, 'VIP-RANK-1', RULE), [64512]);
  assert.deepEqual(gobgpAsPath(64512, 'VIP-DRAIN', RULE), [64512, 64512]);
  assert.equal(gobgpAsPath(64512, null, RULE), null);
});

test('argv per change: origin igp, next hop self, aspath only when there is one, GRACEFUL_SHUTDOWN with VIP-DRAIN', () => {
  const argv = (c: Parameters<typeof gobgpChangeArgv>[1]) => gobgpChangeArgv(64512, c, RULE).join(' ');
  assert.equal(argv({ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }), 'global rib add -a ipv4 192.0.2.1/32 origin igp nexthop 0.0.0.0');
  assert.equal(argv({ action: 'add', prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-1' }), 'global rib add -a ipv6 2001:db8::1/128 origin igp nexthop :: aspath 64512');
  assert.equal(argv({ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-DRAIN' }), 'global rib add -a ipv4 192.0.2.1/32 origin igp nexthop 0.0.0.0 aspath 64512,64512 community 65535:0');
  assert.equal(argv({ action: 'delete', prefix: '2001:db8::1/128', routeMap: null }), 'global rib del -a ipv6 2001:db8::1/128');
  assert.throws(() => gobgpChangeArgv(64512, { action: 'add', prefix: '192.0.2.1/32', routeMap: 'X' }, RULE), TypeError);
});

test('API path per change: what the argv asks for (origin igp, next hop self, aspath, GRACEFUL_SHUTDOWN with VIP-DRAIN); a delete is a withdrawal', () => {
  const path = (c: Parameters<typeof gobgpApiPath>[1]) => gobgpApiPath(64512, c, RULE);
  assert.deepEqual(path({ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }), { family: 4, address: '192.0.2.1', length: 32, nextHop: '0.0.0.0', asPath: [], communities: [], withdraw: false });
  assert.deepEqual(path({ action: 'add', prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-1' }), { family: 6, address: '2001:db8::1', length: 128, nextHop: '::', asPath: [64512], communities: [], withdraw: false });
  assert.deepEqual(path({ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-DRAIN' }).communities, [65535 * 65536]);
  assert.deepEqual(path({ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-DRAIN' }).asPath, [64512, 64512]);
  assert.deepEqual(path({ action: 'delete', prefix: '2001:db8::1/128', routeMap: null }), { family: 6, address: '2001:db8::1', length: 128, nextHop: '::', asPath: [], communities: [], withdraw: true });
  assert.throws(() => path({ action: 'add', prefix: '192.0.2.1/32', routeMap: 'X' }), TypeError);
});

test('global rib -j (real capture) -> RunningBgp with route-maps from the aspath length', () => {
  const routes = [...parseGlobalRib(fixture('rib-ipv4.json')), ...parseGlobalRib(fixture('rib-ipv6.json'))];
  const running = runningFromGobgp(routes, parseGlobal(fixture('global.json')), RULE, computedRouteMaps(RULE), '');
  assert.equal(running.asn, 64512);
  assert.deepEqual(running.networks, [
    { prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-1' },
    { prefix: '2001:db8::10/128', routeMap: 'VIP-RANK-0' },
    { prefix: '2001:db8::11/128', routeMap: 'VIP-DRAIN' },
  ]);
  assert.deepEqual(routes[2]!.communities, [65535 * 65536]);
  assert.deepEqual(parseGlobalRib(''), []);
  assert.deepEqual(parseGlobalRib('{}'), []);
  // a path learned from a peer is not ours
  assert.deepEqual(parseGlobalRib('{"192.0.2.5/32":[{"nlri":{"prefix":"192.0.2.5/32"},"attrs":[],"neighbor_ip":"198.51.100.2","source_id":"198.51.100.254"}]}'), []);
  assert.throws(() => parseGlobalRib('[]'), TypeError);
});

test('neighbor -j (real capture): sessions and families; advertisedTo counts the established ones of the family', () => {
  const n = parseNeighbors(fixture('neighbor.json'));
  assert.deepEqual(n.map((x) => `${x.peer} ${x.remoteAs} ${x.state} ${x.families.join(',')}`), [
    '198.51.100.2 65000 Established ipv4Unicast',
    '2001:db8:ffff:1::2 65000 Established ipv6Unicast',
  ]);
  const routes = parseGlobalRib(fixture('rib-ipv4.json'));
  const st = gobgpPrefixStates(routes, ['192.0.2.10/32', '192.0.2.11/32'], n);
  assert.deepEqual(st.get('192.0.2.10/32'), { prefix: '192.0.2.10/32', inTable: true, valid: true, best: true, advertisedTo: 1 });
  assert.equal(st.get('192.0.2.11/32')!.inTable, false);
});

test('a gobgp failure that means gobgpd is unreachable', () => {
  assert.ok(gobgpUnreachable('{"error":"context deadline exceeded"}'));
  assert.ok(gobgpUnreachable('rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:50051: connect: connection refused"'));
  assert.ok(!gobgpUnreachable('error: invalid nexthop address'));
});
