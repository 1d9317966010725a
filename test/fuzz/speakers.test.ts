// Fuzz: what the ExaBGP and GoBGP adapters do with their programs' output (src/core/exabgp.ts, src/core/gobgp.ts): adj-rib out and neighbor text, global rib and neighbor JSON, exabgpcli verdicts. Seeds are the real captures in test/fixtures/exabgp and test/fixtures/gobgp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { classifyExabgpcli, exabgpPrefixStates, parseAdjRibOut, parseNeighborExtensive, runningFromExabgp } from '../../src/core/exabgp.ts';
import { gobgpPrefixStates, parseGlobal, parseGlobalRib, parseNeighbors, runningFromGobgp } from '../../src/core/gobgp.ts';
import { computedRouteMaps } from '../../src/core/policy.ts';
import { normalisePrefix } from '../../src/core/prefix.ts';
import { fuzz, mutated, report, tokenLines } from './lib.ts';

const exa = (f: string) => readFileSync(new URL(`../fixtures/exabgp/${f}`, import.meta.url), 'utf8');
const gob = (f: string) => readFileSync(new URL(`../fixtures/gobgp/${f}`, import.meta.url), 'utf8');
const RULE = { base: 0, datacenters: 3 };
const ASKED = ['192.0.2.10/32', '2001:db8::10/128', '192.0.2.99/32'];

const EXA_TOKENS = [
  'neighbor', '198.51.100.2', '2001:db8:ffff:1::2', 'local-as', '64512', '4294967296', 'peer-as', 'ipv4', 'ipv6', 'unicast', '192.0.2.10/32',
  '2001:DB8::10/128', '192.0.2.10/33', 'next-hop', 'self', 'as-path', '[', ']', 'community', '65535:0', 'Neighbor', 'state', 'ESTABLISHED',
  'ACTIVE', 'up for', 'down for', 'AS', 'n/a', 'Families', 'enabled', '  ', '   ', 'ExaBGP returns an error', 'could not send command to ExaBGP',
];

test('fuzz: ExaBGP adj-rib out and neighbor text never throw; prefixes come out normalised', async (t) => {
  const arb = fc.oneof(
    { weight: 6, arbitrary: mutated([exa('adj-rib-out-extensive.txt'), exa('neighbor-extensive.txt')], EXA_TOKENS) },
    { weight: 3, arbitrary: tokenLines(EXA_TOKENS, { indent: true }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
  const r = fuzz(arb, (text) => {
    const routes = parseAdjRibOut(text);
    for (const x of routes) assert.equal(normalisePrefix(x.prefix), x.prefix);
    const { localAs, neighbors } = parseNeighborExtensive(text);
    const running = runningFromExabgp(routes, localAs, RULE, computedRouteMaps(RULE), text);
    exabgpPrefixStates(routes, ASKED);
    const v = classifyExabgpcli(text.length % 2, text);
    return `${routes.length ? 'routes' : 'no routes'}, ${neighbors.length ? 'neighbors' : 'no neighbors'}, ${running.networks.some((n) => n.routeMap) ? 'route-maps' : 'none'}, ${v.kind}`;
  });
  await report(t, 'parseAdjRibOut + parseNeighborExtensive', r);
});

// The JSON readers throw SyntaxError or TypeError on what is not gobgp's answer; the adapter turns
// exactly those into VIP_E_SPEAKER_DOWN, so the fuzz accepts those two and no other.
const RUNS = 4000;
const label = (run: () => string): string => {
  try {
    return run();
  } catch (e) {
    if (e instanceof SyntaxError || e instanceof TypeError) return `${e.name} (adapter: VIP_E_SPEAKER_DOWN)`;
    throw e;
  }
};

test('fuzz: GoBGP global rib, global and neighbor JSON', async (t) => {
  const tokens = ['{', '}', '[', ']', '"', '\\', 'null', 'true', '0', '-1', '1e999', '"asns":[', '"as_paths":[', '"attrs":[', '"type":2', '"type":8', '"communities":[', '"neighbor_ip":"x"', '"session_state":6', '"afi_safis":[', '"asn":', '__proto__'];
  const r = fuzz(
    mutated([gob('rib-ipv4.json'), gob('rib-ipv6.json'), gob('neighbor.json'), gob('global.json')], tokens),
    (text) =>
      [
        label(() => {
          const routes = parseGlobalRib(text);
          for (const x of routes) assert.equal(normalisePrefix(x.prefix), x.prefix);
          runningFromGobgp(routes, 64512, RULE, [], text);
          return `rib ${routes.length}`;
        }),
        label(() => `neighbors ${gobgpPrefixStates([], ASKED, parseNeighbors(text)).size}`),
        label(() => `asn ${parseGlobal(text) === null ? 'none' : 'some'}`),
      ].join(', '),
    { runs: RUNS },
  );
  await report(t, 'parseGlobalRib + parseNeighbors + parseGlobal', r, RUNS);
});
