// Fuzz: what the vtysh adapter does with vtysh's text (src/core/frrconfig.ts): split the probe from the
// running config, parse the running config, parse BGP table answers, classify failures. Seeds are
// the FRR 8.4 captures in test/fixtures/frr plus the Quagga layout of test/core/frrconfig.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  buildApplyCommands,
  classifyVtyshFailure,
  parseLookupJson,
  parseLookupText,
  parseRunningConfig,
  splitProbeAndRunning,
} from '../../src/core/frrconfig.ts';
import { normalisePrefix } from '../../src/core/prefix.ts';
import { fuzz, mutated, report, tokenLines } from './lib.ts';

const FIXTURES = new URL('../fixtures/frr/', import.meta.url).pathname;
const read = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

// Hand-written after Quagga 1.2's bgp_config_write (see test/core/frrconfig.test.ts): no Quagga
// package exists on Debian 12 to capture from.
const QUAGGA = `Building configuration...

Current configuration:
!
router bgp 64512
 network 192.0.2.1/32 route-map VIP-RANK-0
 network 192.0.2.0 mask 255.255.255.128
 network 198.51.100.0
!
 address-family ipv4 multicast
 network 203.0.113.0/24
 exit-address-family
!
 address-family ipv6
 network 2001:db8::1/128 route-map VIP-RANK-1
 exit-address-family
!
router bgp 64512 view other
 network 192.0.2.3/32
!
route-map VIP-RANK-0 permit 10
!
end
`;
const RUNNING = [read('read-running.out'), read('running-nobgp.out'), QUAGGA];
const LOOKUP_JSON = read('lookup.json.out');
const LOOKUP_PREFIXES = ['192.0.2.1/32', '192.0.2.99/32', '192.0.2.50/32', '192.0.2.200/32', '2001:db8::1/128', '2001:db8::99/128'];
const LOOKUP_TEXT = read('lookup.txt.out');
const ERRORS = ['no-daemons', 'bgpd-down-apply', 'rejected-bad-prefix', 'rejected-routemap-mismatch'].map((n) => {
  const e = JSON.parse(read(`errors/${n}.json`)) as { stdout: string; stderr: string };
  return `${e.stdout}\n${e.stderr}`;
});

const FRR_TOKENS = [
  'router bgp', 'router', 'bgp', '64512', '1.10', '4294967295', '4294967296', 'vrf', 'blue', 'view', 'address-family', 'ipv4', 'ipv6',
  'unicast', 'multicast', 'vpnv4', 'exit-address-family', 'exit', 'end', '!', 'network', 'no network', 'route-map', 'VIP-RANK-0',
  'permit', 'deny', '10', 'mask', '255.255.255.0', '255.0.255.0', '192.0.2.1/32', '192.0.2.1', '2001:db8::1/128', '2001:DB8:0::1/128',
  '::ffff:192.0.2.1/128', '192.0.2.1/33', '0.0.0.0/0', '::/0', 'Building configuration...', 'Current configuration:', '{', '}',
  '"vrfs":{', 'neighbor 198.51.100.2 remote-as 65000', 'set as-path prepend 64512', '__proto__', 'constructor',
];

test('fuzz: splitProbeAndRunning + parseRunningConfig on mutated captures and token soup', async (t) => {
  const arb = fc.oneof(
    { weight: 6, arbitrary: mutated(RUNNING, FRR_TOKENS) },
    { weight: 3, arbitrary: tokenLines(FRR_TOKENS, { indent: true }).map((s) => `Building configuration...\n${s}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
  const r = fuzz(arb, (text) => {
    const { probe, running } = splitProbeAndRunning(text);
    assert.equal(probe + running, text, 'the split loses nothing');
    const bgp = parseRunningConfig(running);
    for (const n of bgp.networks) assert.equal(normalisePrefix(n.prefix), n.prefix, 'network prefixes come out normalised');
    // what the adapter does next with it: withdraw commands for router bgp ASN (throws RangeError on a bad ASN)
    if (bgp.asn !== null) buildApplyCommands('frr', bgp.asn, bgp.networks.map((n) => ({ action: 'delete', prefix: n.prefix, routeMap: null })));
    return bgp.asn === null ? 'no router bgp' : bgp.networks.length ? 'router bgp with networks' : 'router bgp, no networks';
  });
  await report(t, 'parseRunningConfig', r);
});

// The lookup parsers throw on what is not vtysh's answer (SyntaxError, TypeError for a bad asked
// prefix); the adapter turns exactly that into VIP_E_SPEAKER_DOWN. Anything else would escape as an
// internal error, so the fuzz accepts those two and no other.
const LOOKUP_RUNS = 4000;
const lookupLabel = (run: () => Map<string, unknown>): string => {
  try {
    return `answered ${run().size}`;
  } catch (e) {
    if (e instanceof SyntaxError) return 'SyntaxError (adapter: VIP_E_SPEAKER_DOWN)';
    throw e;
  }
};

test('fuzz: parseLookupJson on mutated captures', async (t) => {
  const r = fuzz(
    mutated([LOOKUP_JSON, `{"vrfs":{}}\n${LOOKUP_JSON}`], ['{', '}', '[', ']', '"', '\\', '"prefix":"192.0.2.1/32"', '"paths":[', '"sourced":true', '"advertisedTo":{', '{}', '"warning":"x"', 'null', 'true']),
    (text) => lookupLabel(() => parseLookupJson(text, LOOKUP_PREFIXES, { skipLeading: text.startsWith('{"vrfs"') ? 1 : 0 })),
    { runs: LOOKUP_RUNS },
  );
  await report(t, 'parseLookupJson', r, LOOKUP_RUNS);
});

test('fuzz: parseLookupText and classifyVtyshFailure on mutated captures', async (t) => {
  const tokens = ['BGP routing table entry for ', '192.0.2.1/32,', 'Origin IGP, valid, sourced, best', 'Advertised to non peer-group peers:', '% Network not in table', 'bgpd is not running', 'Exiting: failed to connect to any daemons.', 'locked by other VTY', '\n'];
  const r = fuzz(
    mutated([LOOKUP_TEXT, ...ERRORS], tokens),
    (text) => {
      const f = classifyVtyshFailure(text);
      assert.equal(typeof f.message, 'string');
      return `${lookupLabel(() => parseLookupText(text, LOOKUP_PREFIXES))}, ${f.kind}`;
    },
    { runs: LOOKUP_RUNS },
  );
  await report(t, 'parseLookupText + classifyVtyshFailure', r, LOOKUP_RUNS);
});
