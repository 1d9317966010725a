// core/bird.ts: the include file vip-mgmt owns (written, read back, changed) and real BIRD 2.0.12 answers (test/fixtures/bird/lab.label) read into the Speaker shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  applyBirdChanges,
  birdConfigureOutcome,
  birdEstablished,
  birdInclude,
  birdLocalAs,
  birdNeighbors,
  birdPrefixStates,
  birdProtocolOf,
  birdProtocolsWithoutFilter,
  birdUnreachable,
  diffBirdRoutes,
  parseBirdInclude,
  parseBirdProtocols,
  parseBirdReply,
  parseBirdRoutes,
  routeMapOfBirdProtocol,
  runningFromBird,
} from '../../src/core/bird.ts';
import { computedRouteMaps, prependsOf } from '../../src/core/policy.ts';

const fixture = (f: string) => readFileSync(new URL(`../fixtures/bird/${f}`, import.meta.url), 'utf8');
const RULE = { base: 0, datacenters: 2 };
const lines = (f: string) => parseBirdReply(fixture(f)).lines;

test('protocol names per route-map and family, and back', () => {
  assert.equal(birdProtocolOf('VIP-RANK-0', 4), 'vip_mgmt_rank0_v4');
  assert.equal(birdProtocolOf('VIP-RANK-12', 6), 'vip_mgmt_rank12_v6');
  assert.equal(birdProtocolOf('VIP-DRAIN', 6), 'vip_mgmt_drain_v6');
  assert.equal(birdProtocolOf('OTHER', 4), null);
  assert.equal(routeMapOfBirdProtocol('vip_mgmt_rank12_v6'), 'VIP-RANK-12');
  assert.equal(routeMapOfBirdProtocol('vip_mgmt_drain_v4'), 'VIP-DRAIN');
  for (const p of ['router_v4', 'vip_mgmt_rank01_v4', 'vip_mgmt_rank1_v5', 'xvip_mgmt_rank1_v4']) assert.equal(routeMapOfBirdProtocol(p), null, p);
});

test('the include: a protocol per route-map and family (empty ones too), the filter prepending prependsOf times, GRACEFUL_SHUTDOWN with VIP-DRAIN', () => {
  const routes = new Map([
    ['192.0.2.80/32', 'VIP-RANK-1'],
    ['2001:db8::80/128', 'VIP-RANK-1'],
    ['192.0.2.81/32', 'VIP-DRAIN'],
  ]);
  const text = birdInclude(64512, routes, RULE);
  // the real file the lab BIRD ran (and announced with: the router saw 64512 64512 and, drained, 64512 x3 + graceful-shutdown)
  assert.equal(text, fixture('include.conf'));
  for (const rm of computedRouteMaps(RULE)) {
    for (const f of [4, 6] as const) assert.match(text, new RegExp(`^protocol static ${birdProtocolOf(rm, f)} \\{`, 'm'));
    const line = text.split('\n').find((l) => l.includes(`# ${rm}`) && l.startsWith('  if'))!;
    assert.equal(line.split('bgp_path.prepend(64512);').length - 1, prependsOf(rm, RULE), rm);
  }
  assert.match(text, /vip_mgmt_drain_v6" then \{ .*bgp_community\.add\(\(65535,0\)\); accept; \}/);
  assert.deepEqual(text.split('\n').filter((l) => l.includes('65535')).map((l) => l.endsWith('# VIP-DRAIN')), [true]);
  assert.match(text, /^  reject;$/m);
  // a larger prepend.base moves every rank
  assert.equal(birdInclude(64512, new Map([['192.0.2.1/32', 'VIP-RANK-0']]), { base: 2, datacenters: 2 }).split('\n').find((l) => l.includes('# VIP-RANK-0') && l.startsWith('  if'))!.split('prepend').length - 1, 2);
  assert.throws(() => birdInclude(64512, new Map([['192.0.2.1/32', 'NOPE']]), RULE), TypeError);
});

test('the include read back is what was written; lines it does not know are skipped', () => {
  const routes = new Map([
    ['192.0.2.80/32', 'VIP-RANK-1'],
    ['2001:db8::80/128', 'VIP-RANK-1'],
    ['192.0.2.81/32', 'VIP-DRAIN'],
  ]);
  assert.deepEqual(parseBirdInclude(birdInclude(64512, routes, RULE)), routes);
  assert.deepEqual(parseBirdInclude('protocol static other { ipv4; route 192.0.2.9/32 blackhole; }\nprotocol static vip_mgmt_rank0_v4 {\n  route 192.0.2.10/32 unreachable;\n  junk\n}\n'), new Map([['192.0.2.10/32', 'VIP-RANK-0']]));
  assert.deepEqual(parseBirdInclude(''), new Map());
});

test('changes onto routes: add sets (moves) the route-map, delete removes whatever the route-map', () => {
  const base = new Map([['192.0.2.1/32', 'VIP-RANK-0'], ['192.0.2.2/32', 'VIP-RANK-1']]);
  const next = applyBirdChanges(base, [
    { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-DRAIN' },
    { action: 'delete', prefix: '192.0.2.2/32', routeMap: null },
    { action: 'add', prefix: '2001:DB8::1/128', routeMap: 'VIP-RANK-1' },
  ]);
  assert.deepEqual(next, new Map([['192.0.2.1/32', 'VIP-DRAIN'], ['2001:db8::1/128', 'VIP-RANK-1']]));
  assert.equal(base.size, 2, 'the base is not changed');
  assert.throws(() => applyBirdChanges(base, [{ action: 'add', prefix: 'x', routeMap: 'VIP-RANK-0' }]), TypeError);
});

test('show route (real capture, with and without `all`) -> vip-mgmt routes, their route-maps, best', () => {
  const ours = parseBirdRoutes(lines('show-route-ours.txt'));
  assert.deepEqual(ours.map((r) => `${r.prefix} ${r.proto} ${r.best}`), [
    '192.0.2.81/32 vip_mgmt_drain_v4 true',
    '192.0.2.80/32 vip_mgmt_rank1_v4 true',
    '2001:db8::80/128 vip_mgmt_rank1_v6 true',
  ]);
  assert.deepEqual(parseBirdRoutes(lines('show-route-all.txt')), ours);
  // a second route for the prefix (learned from the router) on an indented line, not best
  const two = parseBirdRoutes(['Table master4:', '192.0.2.9/32         unicast [router_v4 01:00:00.000] * (100) [AS65000i]', '\tvia 198.51.100.2 on veth0', '                     blackhole [vip_mgmt_rank0_v4 01:00:00.000] (200)']);
  assert.deepEqual(two.map((r) => `${r.prefix} ${r.proto} ${r.best}`), ['192.0.2.9/32 router_v4 true', '192.0.2.9/32 vip_mgmt_rank0_v4 false']);
  const states = birdPrefixStates(two, ['192.0.2.9/32'], new Map());
  assert.deepEqual(states.get('192.0.2.9/32'), { prefix: '192.0.2.9/32', inTable: true, valid: true, best: false, advertisedTo: 0 });
});

test('show protocols all (real capture) -> neighbors, local AS, the filter, RunningBgp and PrefixStates', () => {
  const protos = parseBirdProtocols(lines('show-protocols-all.txt'));
  const bgp = protos.filter((p) => p.proto === 'BGP');
  assert.deepEqual(bgp.map((p) => `${p.name} ${p.bgpState} ${p.neighbor} ${p.neighborAs} ${p.localAs} ${p.channels.map((c) => `${c.family}:${c.exportFilter}:${c.exported}`).join(',')}`), [
    'router_v4 Established 198.51.100.2 65000 64512 ipv4:vip_mgmt_export:2',
    'router_v6 Established 2001:db8:ffff:1::2 65000 64512 ipv6:vip_mgmt_export:1',
  ]);
  assert.equal(birdLocalAs(protos), 64512);
  assert.deepEqual(birdProtocolsWithoutFilter(protos), []);
  assert.deepEqual(birdNeighbors(protos).map((n) => `${n.peer} ${n.remoteAs} ${n.state} ${n.families.join(',')}`), [
    '198.51.100.2 65000 Established ipv4Unicast',
    '2001:db8:ffff:1::2 65000 Established ipv6Unicast',
  ]);
  const routes = parseBirdRoutes(lines('show-route-ours.txt'));
  const running = runningFromBird(routes, protos, RULE, '');
  assert.deepEqual(running.networks, [
    { prefix: '192.0.2.81/32', routeMap: 'VIP-DRAIN' },
    { prefix: '192.0.2.80/32', routeMap: 'VIP-RANK-1' },
    { prefix: '2001:db8::80/128', routeMap: 'VIP-RANK-1' },
  ]);
  assert.deepEqual(running.routeMaps, computedRouteMaps(RULE));
  const exports = new Map([['router_v4', parseBirdRoutes(lines('show-route-export-v4-all.txt'))], ['router_v6', routes.filter((r) => r.prefix.includes(':'))]]);
  const t = birdPrefixStates(routes, ['192.0.2.80/32', '2001:db8::80/128', '192.0.2.99/32'], exports);
  assert.deepEqual([...t.values()].map((s) => `${s.prefix} ${s.inTable} ${s.best} ${s.advertisedTo}`), ['192.0.2.80/32 true true 1', '2001:db8::80/128 true true 1', '192.0.2.99/32 false false 0']);
  assert.equal(birdPrefixStates(routes, ['192.0.2.80/32'], new Map()).get('192.0.2.80/32')!.advertisedTo, 0, 'exported nowhere');
  // a session exporting with another filter is named
  const other = protos.map((p) => (p.name === 'router_v6' ? { ...p, channels: p.channels.map((c) => ({ ...c, exportFilter: 'ALL' })) } : p));
  assert.deepEqual(birdProtocolsWithoutFilter(other), ['router_v6']);
  assert.deepEqual(birdEstablished(protos), ['router_v4', 'router_v6']);
});

test('show route export P all (real capture): the AS path after vip_mgmt_export; a path that disagrees with the route-map of its protocol wins', () => {
  const exported = parseBirdRoutes(lines('show-route-export-v4-all.txt'));
  assert.deepEqual(exported.map((r) => `${r.prefix} ${r.proto} ${JSON.stringify(r.asPath)}`), ['192.0.2.81/32 vip_mgmt_drain_v4 [64512,64512]', '192.0.2.80/32 vip_mgmt_rank1_v4 [64512]']);
  const protos = parseBirdProtocols(lines('show-protocols-all.txt'));
  const routes = parseBirdRoutes(lines('show-route-ours.txt'));
  const agree = runningFromBird(routes, protos, RULE, '', new Map([['router_v4', exported]]));
  assert.deepEqual(agree.networks.map((n) => `${n.prefix} ${n.routeMap}`), ['192.0.2.81/32 VIP-DRAIN', '192.0.2.80/32 VIP-RANK-1', '2001:db8::80/128 VIP-RANK-1']);
  // BIRD runs a filter of another rule (prepend.base 1): rank 1 is then two prepends, one is rank 0's
  const moved = runningFromBird(routes, protos, { base: 1, datacenters: 2 }, '', new Map([['router_v4', exported]]));
  assert.deepEqual(moved.networks.map((n) => `${n.prefix} ${n.routeMap}`), ['192.0.2.81/32 VIP-RANK-1', '192.0.2.80/32 VIP-RANK-0', '2001:db8::80/128 VIP-RANK-1']);
});

test('birdc -v replies: configure accepted, rejected with the message, and an unreachable socket', () => {
  assert.deepEqual(birdConfigureOutcome(parseBirdReply('0001 BIRD 2.0.12 ready.\n0002-Reading configuration from bird.conf\n0003 Reconfigured\n')), { ok: true, message: 'Reconfigured' });
  assert.equal(birdConfigureOutcome(parseBirdReply('0001 BIRD 2.0.12 ready.\n0002-Reading configuration from bird.conf\n0004 Reconfiguration in progress\n')).ok, true);
  const bad = birdConfigureOutcome(parseBirdReply('0001 BIRD 2.0.12 ready.\n0002-Reading configuration from bird.conf\n8002 /tmp/birdx/inc.conf:10:1 syntax error, unexpected GARBAGE\n'));
  assert.deepEqual(bad, { ok: false, message: '/tmp/birdx/inc.conf:10:1 syntax error, unexpected GARBAGE' });
  assert.equal(birdConfigureOutcome(parseBirdReply('0001 BIRD 2.0.12 ready.\n')).ok, false);
  assert.equal(birdUnreachable('Unable to connect to server control socket (/x.ctl): No such file or directory'), true);
  assert.equal(birdUnreachable('Unable to connect to server control socket (/x.ctl): Permission denied'), true);
  assert.equal(birdUnreachable('8002 syntax error'), false);
});

test('render --check for BIRD: rendered routes against the ones BIRD runs, a changed route-map as - then +', () => {
  const rendered = new Map([['192.0.2.1/32', 'VIP-RANK-0'], ['192.0.2.2/32', 'VIP-RANK-1'], ['2001:db8::1/128', 'VIP-RANK-0']]);
  const running = [
    { prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
    { prefix: '192.0.2.2/32', routeMap: 'VIP-DRAIN' },
    { prefix: '192.0.2.9/32', routeMap: 'VIP-RANK-1' },
  ];
  const d = diffBirdRoutes(rendered, running);
  assert.deepEqual(d.map((x) => `${x.action} ${x.context[0]} ${x.line}`), [
    'remove protocol static vip_mgmt_drain_v4 route 192.0.2.2/32 blackhole;',
    'add protocol static vip_mgmt_rank1_v4 route 192.0.2.2/32 blackhole;',
    'add protocol static vip_mgmt_rank0_v6 route 2001:db8::1/128 blackhole;',
    'remove protocol static vip_mgmt_rank1_v4 route 192.0.2.9/32 blackhole;',
  ]);
  assert.deepEqual(diffBirdRoutes(rendered, [...rendered].map(([prefix, routeMap]) => ({ prefix, routeMap }))), []);
});

test('held VIPs as comments in the include: one line each, control characters made harmless', () => {
  const text = birdInclude(64512, new Map(), RULE, ['held, left out: 192.0.2.1/32 (VIP-RANK-0) by ops: "x\nprotocol static evil { ipv4; }"']);
  assert.equal(text.split('\n').filter((l) => l.includes('evil')).length, 1);
  assert.match(text, /^# held, left out: 192\.0\.2\.1\/32/m);
  assert.deepEqual(parseBirdInclude(text), new Map());
});
