// Unit tests: FRR running-config and BGP table parsers on real captures (test/fixtures/frr/), the apply command list, vtysh message classes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildApplyCommands,
  classifyVtyshFailure,
  cleanVtyshOutput,
  lookupCommand,
  parseLookupJson,
  parseLookupText,
  parseRunningConfig,
  splitJsonValues,
  splitProbeAndRunning,
} from '../../src/core/frrconfig.ts';
import type { PrefixState } from '../../src/core/types.ts';

// fileURLToPath, not import.meta.dirname: engines allows Node 20.5, which lacks it
const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'frr');
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
const errorRun = (name: string) => JSON.parse(fixture(join('errors', `${name}.json`))) as { exitCode: number; stdout: string; stderr: string };

const LOOKUP = ['192.0.2.1/32', '192.0.2.99/32', '192.0.2.50/32', '192.0.2.200/32', '2001:db8::1/128', '2001:db8::99/128'];
const st = (prefix: string, inTable: boolean, valid: boolean, best: boolean, advertisedTo: number): PrefixState => ({ prefix, inTable, valid, best, advertisedTo });

test('readRunning output: the probe JSON comes first, then the running config', () => {
  const { probe, running } = splitProbeAndRunning(fixture('read-running.out'));
  const vrfs = JSON.parse(probe) as { vrfs: Record<string, unknown> };
  assert.deepEqual(Object.keys(vrfs.vrfs).sort(), ['blue', 'default']);
  assert.match(running, /^Building configuration\.\.\./);
  assert.match(running, /\nend\n?$/);
});

test('parseRunningConfig: default instance networks of both families, route-maps once each, vrf instance ignored', () => {
  const { running } = splitProbeAndRunning(fixture('read-running.out'));
  const r = parseRunningConfig(running);
  assert.equal(r.asn, 64512);
  assert.deepEqual(r.networks, [
    { prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
    { prefix: '192.0.2.99/32', routeMap: 'VIP-RANK-0' },
    { prefix: '198.51.100.128/25', routeMap: null },
    { prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-1' },
  ]);
  assert.ok(!r.networks.some((n) => n.prefix === '203.0.113.0/24'), 'router bgp 64600 vrf blue is not the default instance');
  assert.deepEqual(r.routeMaps, ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2', 'VIP-RANK-3', 'OTHER']);
  assert.equal(r.text, running);
});

test('parseRunningConfig: no BGP instance, and bgpd down (why readRunning probes bgpd first)', () => {
  const nobgp = parseRunningConfig(splitProbeAndRunning(fixture('running-nobgp.out')).running);
  assert.equal(nobgp.asn, null);
  assert.deepEqual(nobgp.networks, []);
  assert.deepEqual(nobgp.routeMaps, ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2', 'VIP-RANK-3']);
  // with bgpd killed, `show running-config` alone exits 0 and looks exactly like "no BGP configured"
  const down = errorRun('bgpd-down-running');
  assert.equal(down.exitCode, 0);
  assert.equal(parseRunningConfig(down.stdout).asn, null);
});

test('parseRunningConfig: Quagga 1.x layout (IPv4 under router bgp, `address-family ipv6`, "!" between its parts)', () => {
  // Hand-written after Quagga 1.2's bgp_config_write (no Quagga package exists on Debian 12 to
  // capture from): IPv4 unicast networks sit directly under `router bgp`, cisco config-type prints
  // `mask`, other address families and views must not count.
  const text = `Building configuration...

Current configuration:
!
hostname lb1
!
router bgp 64512
 bgp router-id 198.51.100.1
 network 192.0.2.1/32 route-map VIP-RANK-0
 network 192.0.2.0 mask 255.255.255.128
 network 198.51.100.0
 neighbor 198.51.100.2 remote-as 65000
!
 address-family ipv4 multicast
 network 203.0.113.0/24
 exit-address-family
!
 address-family vpnv4
 network 203.0.113.128/25 rd 1:1 tag 5
 exit-address-family
!
 address-family ipv6
 network 2001:DB8:0::1/128 route-map VIP-RANK-1
 network 2001:db8::1/128 route-map VIP-RANK-1
 exit-address-family
 network 192.0.2.2/32
!
router bgp 64512 view other
 network 192.0.2.3/32
!
route-map VIP-RANK-0 permit 10
!
route-map VIP-RANK-1 permit 10
 set as-path prepend 64512
!
line vty
!
end
`;
  const r = parseRunningConfig(text);
  assert.equal(r.asn, 64512);
  assert.deepEqual(r.networks, [
    { prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
    { prefix: '192.0.2.0/25', routeMap: null },
    { prefix: '198.51.100.0/24', routeMap: null }, // classful C
    { prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-1' }, // normalised, listed once
    { prefix: '192.0.2.2/32', routeMap: null }, // back under router bgp after exit-address-family
  ]);
  assert.deepEqual(r.routeMaps, ['VIP-RANK-0', 'VIP-RANK-1']);
});

test('parseRunningConfig: AS numbers as FRR prints them, asdot included; out-of-range ones are no default instance', () => {
  const asn = (word: string) => parseRunningConfig(`router bgp ${word}\n network 192.0.2.1/32\n`).asn;
  assert.equal(asn('64512'), 64512);
  assert.equal(asn('4294967295'), 4294967295);
  assert.equal(asn('1.10'), 65546);
  assert.equal(asn('65535.65535'), 4294967295);
  // found by test/fuzz/frrconfig.test.ts: these reached buildApplyCommands, whose RangeError escaped as an internal error
  for (const bad of ['0', '4294967296', '9007199254740993', '9'.repeat(400), '1.65536', '65536.0', '1.', '.1', '-1']) {
    assert.equal(asn(bad), null, bad);
  }
});

test('parseLookupJson: only our sourced path counts; invalid, learned-only and absent prefixes', () => {
  const m = parseLookupJson(fixture('lookup.json.out'), LOOKUP);
  assert.deepEqual([...m.values()], [
    st('192.0.2.1/32', true, true, true, 1),
    st('192.0.2.99/32', true, false, false, 0), // configured, not on lo: in the table, not valid
    st('192.0.2.50/32', false, false, false, 0), // only lon1's path, through the router
    st('192.0.2.200/32', false, false, false, 0),
    st('2001:db8::1/128', true, true, true, 1),
    st('2001:db8::99/128', false, false, false, 0),
  ]);
});

test('parseLookupJson: after a withdraw the prefix is still in the table, but not ours', () => {
  const m = parseLookupJson(fixture('lookup-withdrawn.json.out'), ['192.0.2.1/32']);
  assert.deepEqual(m.get('192.0.2.1/32'), st('192.0.2.1/32', false, false, false, 0));
});

test('parseLookupJson: a path bgpd marked removed (a `no network` in its work queue, FRR 8.4 right after the change) is gone', () => {
  const m = parseLookupJson(fixture('lookup-removed.json.out'), ['192.0.2.1/32']);
  assert.deepEqual(m.get('192.0.2.1/32'), st('192.0.2.1/32', false, false, false, 0));
});

test('parseLookupJson: no BGP instance reads as not in the table; keys are normalised', () => {
  const m = parseLookupJson(fixture('lookup-nobgp.json.out'), ['192.0.2.1/32', '2001:DB8:0::1/128']);
  assert.deepEqual([...m.keys()], ['192.0.2.1/32', '2001:db8::1/128']);
  assert.ok([...m.values()].every((s) => !s.inTable));
});

test('parseLookupJson refuses answers that do not line up with the questions', () => {
  assert.throws(() => parseLookupJson(fixture('lookup.json.out'), LOOKUP.slice(1)), /6 JSON answers for 5 lookups/);
  const swapped = [LOOKUP[1]!, LOOKUP[0]!, ...LOOKUP.slice(2)];
  assert.throws(() => parseLookupJson(fixture('lookup.json.out'), swapped), /answered for/);
  assert.throws(() => parseLookupJson('bgpd is not running\n', ['192.0.2.1/32']), /expected JSON/);
});

test('parseLookupText (Quagga dialect commands) agrees with the JSON answers', () => {
  const text = parseLookupText(fixture('lookup.txt.out'), LOOKUP);
  const json = parseLookupJson(fixture('lookup.json.out'), LOOKUP);
  assert.deepEqual(text, json);
});

test('splitJsonValues handles braces inside strings and empty objects', () => {
  assert.deepEqual(splitJsonValues('{"a":"}{"}\n{\n}\n[1,{"b":"\\"}"}]'), [{ a: '}{' }, {}, [1, { b: '"}' }]]);
  assert.deepEqual(splitJsonValues('  \n'), []);
  assert.throws(() => splitJsonValues('{"a":1'), /truncated/);
});

test('buildApplyCommands (FRR): one block per family, adds and deletes in order, prefixes normalised', () => {
  const cmds = buildApplyCommands('frr', 64512, [
    { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
    { action: 'add', prefix: '2001:DB8::0001/128', routeMap: 'VIP-RANK-1' },
    { action: 'delete', prefix: '192.0.2.2/32', routeMap: 'VIP-RANK-0' },
    { action: 'delete', prefix: '2001:db8::2/128', routeMap: null },
  ]);
  assert.deepEqual(cmds, [
    'configure terminal',
    'router bgp 64512',
    'address-family ipv4 unicast',
    'network 192.0.2.1/32 route-map VIP-RANK-0',
    'no network 192.0.2.2/32',
    'exit-address-family',
    'address-family ipv6 unicast',
    'network 2001:db8::1/128 route-map VIP-RANK-1',
    'no network 2001:db8::2/128',
    'exit-address-family',
    'end',
  ]);
  assert.deepEqual(buildApplyCommands('frr', 64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: null }]), [
    'configure terminal',
    'router bgp 64512',
    'address-family ipv4 unicast',
    'network 192.0.2.1/32',
    'exit-address-family',
    'end',
  ]);
  assert.deepEqual(buildApplyCommands('frr', 64512, []), []);
});

test('buildApplyCommands (Quagga): IPv4 directly under router bgp, IPv6 in address-family ipv6', () => {
  const cmds = buildApplyCommands('quagga', 64513, [
    { action: 'add', prefix: '2001:db8::1/128', routeMap: 'VIP-RANK-1' },
    { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-1' },
    { action: 'delete', prefix: '192.0.2.2/32', routeMap: null },
  ]);
  assert.deepEqual(cmds, [
    'configure terminal',
    'router bgp 64513',
    'network 192.0.2.1/32 route-map VIP-RANK-1',
    'no network 192.0.2.2/32',
    'address-family ipv6',
    'network 2001:db8::1/128 route-map VIP-RANK-1',
    'exit-address-family',
    'end',
  ]);
  assert.deepEqual(buildApplyCommands('quagga', 64513, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'R' }]), [
    'configure terminal',
    'router bgp 64513',
    'network 192.0.2.1/32 route-map R',
    'end',
  ]);
});

test('buildApplyCommands refuses what would change the meaning of a command', () => {
  assert.throws(() => buildApplyCommands('frr', 64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'A\nno router bgp 64512' }]), /route-map name/);
  assert.throws(() => buildApplyCommands('frr', 64512, [{ action: 'add', prefix: 'service.tld', routeMap: null }]), /not a prefix/);
  assert.throws(() => buildApplyCommands('frr', 0, []), /AS number/);
});

test('lookupCommand asks an exact prefix per dialect', () => {
  assert.equal(lookupCommand('frr', '192.0.2.1'), 'show bgp ipv4 unicast 192.0.2.1/32 json');
  assert.equal(lookupCommand('frr', '2001:db8::1/128'), 'show bgp ipv6 unicast 2001:db8::1/128 json');
  assert.equal(lookupCommand('quagga', '192.0.2.1/32'), 'show ip bgp 192.0.2.1/32');
  assert.equal(lookupCommand('quagga', '2001:db8::1/128'), 'show bgp ipv6 2001:db8::1/128');
});

test('classifyVtyshFailure on the captured failures', () => {
  const all = (n: string) => {
    const r = errorRun(n);
    return `${r.stdout}${r.stderr}`;
  };
  assert.deepEqual(classifyVtyshFailure(all('bgpd-down-probe')), { kind: 'daemon-down', daemon: 'bgpd', message: 'bgpd is not running' });
  assert.deepEqual(classifyVtyshFailure(all('bgpd-down-apply')), { kind: 'daemon-down', daemon: 'bgpd', message: 'bgpd is not running' });
  assert.deepEqual(classifyVtyshFailure(all('no-daemons')), { kind: 'no-daemons', message: 'Exiting: failed to connect to any daemons.' });
  assert.deepEqual(classifyVtyshFailure(all('rejected-bad-prefix')), { kind: 'rejected', message: '% Unknown command: network 192.0.2.300/32' });
  assert.deepEqual(classifyVtyshFailure(all('rejected-no-such-network')), { kind: 'rejected', message: "% Can't find static route specified" });
  assert.deepEqual(classifyVtyshFailure(all('rejected-routemap-mismatch')), { kind: 'rejected', message: "% route-map name doesn't match static route" });
  assert.deepEqual(classifyVtyshFailure(all('rejected-other-asn')), { kind: 'rejected', message: 'BGP is already running; AS is 64512' });
  assert.equal(errorRun('accepted-missing-routemap').exitCode, 0, 'FRR takes a network with a missing route-map silently');
});

test('classifyVtyshFailure: lock messages win over the errors that follow them', () => {
  // Texts from the sources, not captures: FRR 8.4's vtysh cannot lock a `network` change (no
  // `configure exclusive` in classic CLI mode; with --tcli it does not cover bgpd's commands).
  // Quagga 1.x lib/command.c config_terminal: the rest of the -c list then fails in enable mode.
  assert.equal(classifyVtyshFailure('VTY configuration is locked by other VTY\n% Unknown command: router bgp 64512\n').kind, 'locked');
  // FRR lib/vty.c vty_config_enter (configure exclusive held elsewhere)
  assert.deepEqual(classifyVtyshFailure('% Configuration is locked by other client\n'), { kind: 'locked', message: '% Configuration is locked by other client' });
  // FRR northbound commit while another client holds the running-config lock
  assert.equal(classifyVtyshFailure('% Configuration failed.\n\nError type: resource is locked\nError description: running configuration is locked by another client\n').kind, 'locked');
  assert.equal(classifyVtyshFailure('Warning: closing connection to bgpd because of an I/O error!\n').kind, 'daemon-down');
  assert.equal(classifyVtyshFailure('Exiting: failed to connect to any daemons.\nHint: if this seems wrong, try running me as a privileged user!\n').kind, 'permission');
  assert.equal(classifyVtyshFailure('').message, '(vtysh printed nothing)');
});

test('cleanVtyshOutput drops the missing per-pathspace vtysh.conf warning only', () => {
  assert.equal(cleanVtyshOutput(errorRun('no-daemons').stderr), 'Exiting: failed to connect to any daemons.');
  assert.equal(cleanVtyshOutput('% Unknown command: x\n'), '% Unknown command: x');
});
