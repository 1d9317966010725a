// Fuzz: the config loader's pure part (parseConfigText: YAML text -> Config or the list of problems) on
// mutated configs, YAML written from generated documents, and YAML's own traps (aliases, tags, deep nesting).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import { parseConfigText } from '../../src/config/load.ts';
import { fuzz, mutated, report } from './lib.ts';

// The configuration of SPEC.md ("Configuration"), the README's short one, and one with every
// watchdog and fleet knob: the seeds the mutations start from.
const SPEC = `dc: par1                         # this host's datacenter
bgp:
  speaker: frr                   # frr | quagga
  vtysh: vtysh                   # path or name on PATH
  pathspace: ""                  # FRR -N instance name
dns:
  servers: []                    # "ip" or "ip:port"; empty = nameservers from /etc/resolv.conf
  timeout: 2s
  attempts: 2
vip_prefixes:
  - 192.0.2.0/24
  - 2001:db8::/48
datacenters:
  par1: { asn: 64512 }
  lon1: { asn: 64513 }
prepend:
  base: 0
services:
  - name: service.tld
    prefer: [par1, lon1]
    min_realservers: 1
    restore_realservers: 2
watchdog:
  rise: 2
  fall: 2
  settle: 2
  down_action: withdraw
  ipvs:
    source: proc
    path: /proc/net/ip_vs
  fwmarks: {}
  exclude_realservers: []
  discover: false
state_dir: /var/lib/vip-mgmt
log:
  syslog: true
  tag: vip-mgmt
  level: info
`;
const SHORT = `
dc: par1
vip_prefixes: [192.0.2.0/24, 2001:db8::/48]
datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 } }
services:
  - { name: service.tld, prefer: [par1, lon1], min_realservers: 1, restore_realservers: 2 }
`;
const FULL = `dc: lon1
bgp: { speaker: quagga, vtysh: /usr/bin/vtysh, timeout: 10s, verify_timeout: 5s }
dns: { servers: ["127.0.0.1:5353", "[2001:db8::53]:53", "192.0.2.53"], timeout: 500ms, attempts: 3 }
vip_prefixes: [192.0.2.0/24, 198.51.100.0/25, 2001:db8::/48]
datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 }, ams1: { asn: 4200000000 } }
prepend: { base: 1 }
services:
  - { name: a.example.tld, prefer: [lon1, par1, ams1] }
  - { name: B.example.tld., prefer: [par1], min_realservers: 0 }
watchdog:
  ipvs: { source: ipvsadm, ipvsadm: /sbin/ipvsadm }
  fwmarks: { 7: [192.0.2.7], "8": [2001:db8::8] }
  exclude_realservers: ["198.51.100.9", "198.51.100.10:80", "[2001:db8:1::1]:8080"]
  discover: true
  metrics_file: /var/lib/node_exporter/vip-mgmt.prom
drain: { graceful: 30s }
fleet: { host: lb1.lon1, etcd: { endpoints: ["https://10.0.0.1:2379"], prefix: /vip-mgmt/, lease_ttl: 180s }, guard: last_dc }
log: { syslog: false, tag: vip, level: debug }
`;
// Anchors nine deep: a parser or validator that expands aliases does 9^7 work.
const ALIASES = `dc: par1
vip_prefixes: [192.0.2.0/24]
datacenters: { par1: { asn: 64512 } }
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
services: *f
watchdog: { fwmarks: { 7: *f }, exclude_realservers: *f }
`;
const SEEDS = [SPEC, SHORT, FULL, ALIASES];

const TOKENS = [
  // keys
  'dc', 'bgp', 'speaker', 'vtysh', 'pathspace', 'timeout', 'verify_timeout', 'dns', 'servers', 'attempts', 'vip_prefixes', 'datacenters', 'asn',
  'prepend', 'base', 'services', 'name', 'prefer', 'min_realservers', 'restore_realservers', 'watchdog', 'rise', 'fall', 'settle', 'down_action',
  'ipvs', 'source', 'path', 'fwmarks', 'exclude_realservers', 'discover', 'metrics_file', 'state_dir', 'log', 'syslog', 'tag', 'level',
  '__proto__', 'constructor', 'toString', 'prototype', 'hasOwnProperty', 'valueOf',
  // YAML syntax and its traps
  '- ', ': ', '\n  ', '\n- ', '{', '}', '[', ']', ',', '&a ', '*a', '<<: *a', '!!str ', '!!int ', '!!float ', '!!binary ', '!!set ', '!!omap ', '!!js/function ',
  '!!python/object ', '!<tag:yaml.org,2002:str> ', '? ', '|', '>', '---\n', '...\n', '%YAML 1.1\n', '#', '"', "'", '"\\u0000"', '"\\x1b[31m"', '\t',
  // values
  '1e999', '.inf', '-.inf', '.nan', '0x1F', '0o17', '0b101', '~', 'null', 'yes', 'on', 'true', '2s', '0s', '0', '10', '999999999999h', '1e400s', '-1s',
  '500ms', '24.9d', '2147483648ms', '1.5s', '192.0.2.0/24', '192.0.2.300/24', '::ffff:192.0.2.0/120', '2001:db8::%eth0/64', '0.0.0.0/0',
  '64512', '4294967296', 'frr', 'quagga', 'bird', 'withdraw', 'demote', 'proc', 'ipvsadm', '2001:db8::1', '[2001:db8::1]:53', '127.0.0.1:99999',
];

/** Documents shaped like a config, with wrong types and hostile keys anywhere, written out by js-yaml. */
const leaf = fc.oneof(
  fc.constantFrom(...TOKENS.slice(TOKENS.indexOf('1e999'))),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', 'toString'),
);
const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS.slice(0, TOKENS.indexOf('- '))) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });
const { doc } = fc.letrec((tie) => ({
  doc: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('list'), tie('map')),
  list: fc.array(tie('doc'), { maxLength: 4 }),
  map: fc.dictionary(key, tie('doc'), { maxKeys: 6, noNullPrototype: false }),
}));
const generated = fc
  .tuple(fc.dictionary(key, doc, { maxKeys: 10 }), fc.constantFrom(SHORT, SPEC))
  .map(([extra, base]) => {
    try {
      return `${base}\n${dump(extra, { flowLevel: 2, noRefs: true })}`;
    } catch {
      return base; // a value js-yaml cannot write (e.g. undefined): the base alone
    }
  });

test('fuzz: parseConfigText on mutated configs, generated documents and YAML traps', async (t) => {
  const arb = fc.oneof(
    // 16 KB of growth (a config of some 250 services): config files are small, and validation is
    // linear but not cheap, ~15 us per good and ~25 us per bad address entry (ipaddr.js): 4,000
    // vip_prefixes entries (50 KB) take ~100 ms, which is honest work, not what this test hunts.
    { weight: 6, arbitrary: mutated(SEEDS, TOKENS, { growth: 16_000 }) },
    { weight: 3, arbitrary: generated },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
  const r = fuzz(arb, (text) => {
    const { config, problems } = parseConfigText(text, '/etc/vip-mgmt/config.yaml');
    if (config) {
      assert.deepEqual(problems, []);
      // what the rest of the program relies on: finite numbers, usable timers
      for (const ms of [config.bgp.timeout, config.dns.timeout]) assert.ok(Number.isFinite(ms) && ms >= 0, `duration ${ms}`);
      return 'valid';
    }
    assert.ok(problems.length > 0, 'an invalid config names at least one problem');
    for (const p of problems) assert.ok(typeof p.path === 'string' && typeof p.message === 'string' && p.message !== '', JSON.stringify(p));
    return problems.some((p) => /^line \d+|^\(yaml\)/.test(p.path)) ? 'YAML error' : 'schema problems';
  });
  await report(t, 'parseConfigText', r);
});
