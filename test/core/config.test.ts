// Unit tests: the config schema reports every problem at once, with its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/config/load.ts';

const GOOD = `
dc: par1
vip_prefixes: [192.0.2.0/24, 2001:db8::/48]
datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 } }
services:
  - { name: service.tld, prefer: [par1, lon1], min_realservers: 1, restore_realservers: 2 }
`;

test('a good config parses with defaults filled in', () => {
  const { config, problems } = parseConfigText(GOOD);
  assert.deepEqual(problems, []);
  assert.equal(config!.bgp.speaker, 'frr');
  assert.equal(config!.dns.timeout, 2000);
  assert.equal(config!.watchdog.ipvs.path, '/proc/net/ip_vs');
  assert.equal(config!.state_dir, '/var/lib/vip-mgmt');
});

test('every problem is listed with its path, shape and cross-field ones together', () => {
  const { config, problems } = parseConfigText(`
dc: pra1
bgp: { speaker: bird, vtsyh: x }
dns: { timeout: 2 seconds, servers: ["127.0.0.1:99999"] }
vip_prefixes: [192.0.2.0/24, 192.0.2.300/24]
datacenters: { par1: { asn: 64512 } }
prepend: { base: 16 }
services:
  - { name: a.tld, prefer: [par1, lon1], min_realservers: 3, restore_realservers: 2 }
  - { name: A.tld., prefer: [par1] }
typo_key: 1
`);
  assert.equal(config, undefined);
  const paths = problems.map((p) => p.path).sort();
  for (const want of [
    'bgp.speaker',
    'bgp.vtsyh',
    'dns.timeout',
    'dns.servers[0]',
    'vip_prefixes[1]',
    'typo_key',
    'dc',
    'services[0].prefer[1]',
    'services[0].restore_realservers',
    'services[0].prefer',
    'services[1].name',
  ]) {
    assert.ok(paths.includes(want), `missing problem at ${want}; got ${paths.join(', ')}`);
  }
  assert.match(problems.find((p) => p.path === 'services[0].prefer[1]')!.message, /unknown dc "lon1"/);
  assert.match(problems.find((p) => p.path === 'bgp.vtsyh')!.message, /unknown key/);
});

test('YAML syntax errors are reported with a line', () => {
  const { problems } = parseConfigText('dc: par1\n  bad: [\n');
  assert.ok(problems.length > 0);
  assert.match(problems[0]!.path, /line \d+/);
});

test('missing required keys are named', () => {
  const { problems } = parseConfigText('dc: par1\n');
  const paths = problems.map((p) => p.path);
  assert.ok(paths.includes('vip_prefixes'));
  assert.ok(paths.includes('datacenters'));
});

test('a duplicate key is an error with its line, not a silent last-one-wins', () => {
  const { config, problems } = parseConfigText('dc: par1\nvip_prefixes: [192.0.2.0/24]\ndatacenters: { par1: { asn: 64512 } }\ndc: lon1\n');
  assert.equal(config, undefined);
  assert.equal(problems[0]!.path, 'line 4');
  assert.match(problems[0]!.message, /duplicated mapping key/);
});
