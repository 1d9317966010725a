// Unit tests: the config schema reports every problem at once, with its path; durations, defaults,
// prototype keys and address rules (issue 9), YAML errors (issue 10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText, validateConfig } from '../../src/config/load.ts';
import { checkDuration, MAX_DURATION_MS, parseDuration } from '../../src/core/duration.ts';

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
bgp: { speaker: bgpd, vtsyh: x }
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

// ---- issue 9 / 10: durations, watchdog defaults, prototype keys, addresses, YAML errors ------------

const BASE = `
dc: par1
vip_prefixes: [192.0.2.0/24, 2001:db8::/48]
datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 } }
`;
const problemAt = (text: string, path: string): string | undefined => parseConfigText(text).problems.find((p) => p.path === path)?.message;

test('checkDuration: a unit is required, 0 < ms <= 2^31-1 (Node timers), zero only where allowed', () => {
  const table: [unknown, number | RegExp, { allowZero?: boolean }?][] = [
    ['500ms', 500],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1m', 60_000],
    ['1h', 3_600_000],
    [' 2 s ', 2000],
    ['596h', 2_145_600_000],
    [`${MAX_DURATION_MS}ms`, MAX_DURATION_MS],
    [`${MAX_DURATION_MS + 1}ms`, /too long: at most 2147483647ms \(about 24\.8 days/],
    ['597h', /too long/],
    [`${'9'.repeat(400)}ms`, /too long/], // not Infinity, not 1 ms
    ['0s', /zero: a duration must be more than 0/],
    ['0ms', /zero/],
    ['0.4ms', /under 1ms/],
    ['0s', 0, { allowZero: true }],
    ['0', 0, { allowZero: true }],
    ['10', /"10" has no unit: add one, e.g\. "10s" or "10ms"/],
    [10, /10 has no unit: add one, e\.g\. "10s"/],
    ['10', /no unit/, { allowZero: true }],
    ['0', /no unit/],
    ['2 seconds', /invalid duration "2 seconds"/],
    ['1d', /invalid duration/],
    ['1e3ms', /invalid duration/],
    ['-1s', /invalid duration/],
    [-1, /not a duration/],
    [Number.POSITIVE_INFINITY, /not a duration/],
    [Number.NaN, /not a duration/],
    [null, /not a duration/],
    [true, /not a duration/],
    [['2s'], /a list is not a duration/],
    [{ s: 2 }, /a mapping is not a duration/],
    [Object.create(null), /a mapping is not a duration/],
  ];
  for (const [input, want, rules] of table) {
    const r = checkDuration(input, rules);
    const label = `${typeof input === 'string' ? JSON.stringify(input) : String(typeof input === 'object' ? typeof input : input)} ${JSON.stringify(rules ?? {})}`;
    if (typeof want === 'number') assert.deepEqual(r, { ms: want }, label);
    else {
      assert.ok('problem' in r, `${label}: accepted as ${JSON.stringify(r)}`);
      assert.match(r.problem, want, label);
    }
  }
  assert.equal(parseDuration('2s'), 2000);
  assert.equal(parseDuration('10'), null);
  assert.equal(parseDuration('0s', { allowZero: true }), 0);
});

test('config durations: timeout 0s is refused (it would disable the vtysh timeout), a bare number needs a unit, over 24.8 days is refused', () => {
  const { problems } = parseConfigText(`${BASE}bgp: { timeout: 0s, verify_timeout: 10 }\ndns: { timeout: 25d }\n`);
  const at = (path: string) => problems.find((p) => p.path === path)?.message ?? '(no problem)';
  assert.match(at('bgp.timeout'), /"0s" is zero/);
  assert.match(at('bgp.verify_timeout'), /10 has no unit: add one, e\.g\. "10s"/);
  assert.match(at('dns.timeout'), /invalid duration "25d"/);
  assert.match(problemAt(`${BASE}dns: { timeout: 600h }\n`, 'dns.timeout') ?? '', /too long/);
  assert.match(problemAt(`${BASE}dns: { timeout: "10" }\n`, 'dns.timeout') ?? '', /"10" has no unit/);
  const ok = parseConfigText(`${BASE}bgp: { timeout: 1.5s, verify_timeout: 500ms }\ndns: { timeout: 596h }\n`);
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.config!.bgp.timeout, 1500);
  assert.equal(ok.config!.bgp.verify_timeout, 500);
  assert.equal(ok.config!.dns.timeout, 2_145_600_000);
  const dflt = parseConfigText(BASE).config!;
  assert.deepEqual([dflt.bgp.timeout, dflt.bgp.verify_timeout, dflt.dns.timeout], [10_000, 5000, 2000]);
});

test('watchdog defaults: rise 2, fall 2, settle 2; settle is an integer >= 1', () => {
  const wd = parseConfigText(BASE).config!.watchdog;
  assert.deepEqual([wd.rise, wd.fall, wd.settle], [2, 2, 2]);
  const set = parseConfigText(`${BASE}watchdog: { rise: 1, fall: 3, settle: 5 }\n`).config!.watchdog;
  assert.deepEqual([set.rise, set.fall, set.settle], [1, 3, 5]);
  for (const bad of ['0', '1.5', '"2"', '-1']) {
    assert.ok(problemAt(`${BASE}watchdog: { settle: ${bad} }\n`, 'watchdog.settle'), `settle: ${bad} must be refused`);
  }
});

test('down_action withdraw (default) | demote; drain.graceful takes 0s as off, needs a unit otherwise', () => {
  const dflt = parseConfigText(BASE).config!;
  assert.deepEqual([dflt.watchdog.down_action, dflt.drain.graceful], ['withdraw', 0]);
  const set = parseConfigText(`${BASE}watchdog: { down_action: demote }\ndrain: { graceful: 2m }\n`).config!;
  assert.deepEqual([set.watchdog.down_action, set.drain.graceful], ['demote', 120_000]);
  assert.equal(parseConfigText(`${BASE}drain: { graceful: 0s }\n`).config!.drain.graceful, 0);
  assert.ok(problemAt(`${BASE}watchdog: { down_action: drop }\n`, 'watchdog.down_action'));
  assert.match(problemAt(`${BASE}drain: { graceful: 30 }\n`, 'drain.graceful') ?? '', /no unit/);
});

test('prototype keys: constructor, toString and __proto__ are DC names only when listed', () => {
  // dc and prefer naming a DC that only Object.prototype has
  const notListed = parseConfigText(`
dc: constructor
vip_prefixes: [192.0.2.0/24]
datacenters: { par1: { asn: 64512 } }
services:
  - { name: a.tld, prefer: [constructor] }
  - { name: b.tld, prefer: [par1, toString, hasOwnProperty] }
`);
  assert.equal(notListed.config, undefined);
  const at = (path: string) => notListed.problems.find((p) => p.path === path)?.message ?? '(no problem)';
  assert.match(at('dc'), /this host's dc "constructor" is not listed under datacenters/);
  assert.match(at('services[0].prefer[0]'), /unknown dc "constructor"/);
  assert.match(at('services[1].prefer[1]'), /unknown dc "toString"/);
  assert.match(at('services[1].prefer[2]'), /unknown dc "hasOwnProperty"/);
  assert.match(problemAt(`${BASE.replace('dc: par1', 'dc: toString')}`, 'dc') ?? '', /not listed/);

  // listed, such a name works, and the parsed records answer only for their own keys
  const listed = parseConfigText(`
dc: constructor
vip_prefixes: [192.0.2.0/24]
datacenters: { constructor: { asn: 64512 }, par1: { asn: 64513 } }
services: [{ name: a.tld, prefer: [constructor, par1] }]
watchdog: { fwmarks: { 7: [192.0.2.7] } }
`);
  assert.deepEqual(listed.problems, []);
  const { datacenters, watchdog } = listed.config!;
  assert.equal(Object.getPrototypeOf(datacenters), null);
  assert.equal(Object.getPrototypeOf(watchdog.fwmarks), null);
  assert.equal(datacenters.constructor?.asn, 64512);
  assert.ok(!('toString' in datacenters) && datacenters['toString'] === undefined);
  assert.ok(!('constructor' in watchdog.fwmarks) && watchdog.fwmarks['constructor'] === undefined);
  assert.deepEqual(Object.keys(datacenters), ['constructor', 'par1']);
  assert.equal(Object.getPrototypeOf(parseConfigText(BASE).config!.watchdog.fwmarks), null, 'the default too');

  // zod drops a "__proto__" record key without a word: it is reported instead of vanishing
  const proto = parseConfigText(`${BASE.replace('lon1: { asn: 64513 }', '__proto__: { asn: 1 }')}watchdog: { fwmarks: { __proto__: [192.0.2.1] } }\n`);
  assert.equal(proto.config, undefined);
  assert.match(proto.problems.find((p) => p.path === 'datacenters.__proto__')?.message ?? '', /"__proto__" cannot be a key here/);
  assert.ok(proto.problems.some((p) => p.path === 'watchdog.fwmarks.__proto__'), JSON.stringify(proto.problems));

  // services are looked up by name in plain objects elsewhere (the state's DNS cache)
  assert.match(problemAt(`${BASE}services: [{ name: Constructor, prefer: [par1] }]\n`, 'services[0].name') ?? '', /reserved JavaScript object key/);
  assert.match(problemAt(`${BASE}services: [{ name: __proto__, prefer: [par1] }]\n`, 'services[0].name') ?? '', /reserved/);
  assert.deepEqual(parseConfigText(`${BASE}services: [{ name: tostring.example, prefer: [par1] }]\n`).problems, []);
});

test('config addresses: vip_prefixes and fwmark VIPs refuse zone ids, IPv4-mapped and non-unicast', () => {
  const { problems } = parseConfigText(`
dc: par1
vip_prefixes: [192.0.2.0/24, 2001:db8::/32, "::ffff:192.0.2.0/120", 0.0.0.0/0, "2001:db8::%lo/48", 224.0.0.0/24, 198.51.100.0/24, 203.0.113.0/24]
datacenters: { par1: { asn: 64512 } }
watchdog:
  fwmarks:
    7: ["::ffff:192.0.2.7", 192.0.2.7, "2001:db8::21%lo", 224.0.0.1, 127.0.0.1, "2001:db8::7"]
    0: []
    4294967296: []
    "07": []
`);
  const at = (path: string) => problems.find((p) => p.path === path)?.message ?? '(no problem)';
  for (const ok of ['vip_prefixes[0]', 'vip_prefixes[1]', 'vip_prefixes[6]', 'vip_prefixes[7]', 'watchdog.fwmarks.7[1]', 'watchdog.fwmarks.7[5]']) {
    assert.equal(at(ok), '(no problem)', ok);
  }
  assert.match(at('vip_prefixes[2]'), /IPv4-mapped/);
  assert.match(at('vip_prefixes[3]'), /0\.0\.0\.0\/0 overlaps/);
  assert.match(at('vip_prefixes[4]'), /zone id/);
  assert.match(at('vip_prefixes[5]'), /multicast/);
  assert.match(at('watchdog.fwmarks.7[0]'), /IPv4-mapped IPv6 address: it is not the IPv4 address 192\.0\.2\.7/);
  assert.match(at('watchdog.fwmarks.7[2]'), /zone id/);
  assert.match(at('watchdog.fwmarks.7[3]'), /multicast/);
  assert.match(at('watchdog.fwmarks.7[4]'), /loopback/);
  for (const mark of ['0', '4294967296', '07']) assert.match(at(`watchdog.fwmarks.${mark}`), /firewall mark is a number from 1 to 4294967295/, mark);
  // a mapped VIP is not also reported as outside vip_prefixes: one problem, the real one
  assert.equal(problems.filter((p) => p.path === 'watchdog.fwmarks.7[0]').length, 1);
  assert.match(problemAt(`${BASE}dns: { servers: ["fe80::53%eth0"] }\n`, 'dns.servers[0]') ?? '', /zone ids \(%eth0\) are not supported/);
});

test('a YAML syntax error names the file, line and column and what is wrong', () => {
  const { config, problems } = parseConfigText('dc: par1\n  bad: [\n', '/etc/vip-mgmt/config.yaml');
  assert.equal(config, undefined);
  assert.deepEqual(problems, [
    { path: 'line 2', message: 'bad indentation of a mapping entry (YAML syntax error at /etc/vip-mgmt/config.yaml:2:6)' },
  ]);
  const deep = parseConfigText('['.repeat(500), 'deep.yaml');
  assert.match(deep.problems[0]!.message, /deep\.yaml:1:\d+/);
});

test('aliases that expand past the value budget are refused at once, not walked', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (const n of ['b', 'c', 'd', 'e', 'f', 'g']) bomb.push(`${n}: &${n} [${Array(10).fill(`*${String.fromCharCode(n.charCodeAt(0) - 1)}`).join(', ')}]`);
  for (const text of [`${BASE}${bomb.join('\n')}\n`, `${BASE}services: &s [*s]\n`]) {
    const t0 = performance.now();
    const { config, problems } = parseConfigText(text);
    assert.equal(config, undefined);
    assert.match(problems[0]!.message, /more than 200000 values once its aliases are expanded/);
    assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
  }
});

test('parseConfigText throws nothing, whatever the text', () => {
  for (const text of ['', '~', '- 1', '!!binary x', '? [a]\n: 1', 'a: !!js/function "x"', '\u0000', '%YAML 9.9\n---\n', 'dc: [', '&a *a']) {
    const r = parseConfigText(text);
    assert.ok(r.config || r.problems.length > 0, JSON.stringify(text));
  }
});

test('bgp.speaker takes bird, exabgp and gobgp, each with its own keys and defaults (SPEC "Speakers")', () => {
  const base = { dc: 'par1', vip_prefixes: ['192.0.2.0/24'], datacenters: { par1: { asn: 64512 } } };
  const { config } = validateConfig({ ...base, bgp: { speaker: 'gobgp', gobgp: { api: '[::1]:50052' }, exabgp: { pipename: 'lb1' } } });
  assert.equal(config!.bgp.speaker, 'gobgp');
  assert.deepEqual(config!.bgp.gobgp, { cli: 'gobgp', api: { host: '::1', port: 50052 }, apply: 'grpc' });
  assert.equal(validateConfig({ ...base, bgp: { speaker: 'gobgp', gobgp: { apply: 'cli' } } }).config!.bgp.gobgp.apply, 'cli');
  assert.deepEqual(config!.bgp.exabgp, { cli: 'exabgpcli', pipename: 'lb1' });
  assert.deepEqual(config!.bgp.bird, { birdc: 'birdc', socket: '/run/bird/bird.ctl', include: '/etc/bird/vip-mgmt.conf' });
  const bad = validateConfig({ ...base, bgp: { speaker: 'exabgp', exabgp: { pipename: '../x' }, gobgp: { api: 'localhost', apply: 'vtysh' }, bird: { include: 'rel.conf', sock: 1 } } });
  assert.deepEqual(bad.problems.map((p) => p.path).sort(), ['bgp.bird.include', 'bgp.bird.sock', 'bgp.exabgp.pipename', 'bgp.gobgp.api', 'bgp.gobgp.apply']);
});

test('fleet: absent = local only; present: defaults filled in (prefix, lease 180s, timeout 2s, guard last_dc)', () => {
  assert.equal(parseConfigText(GOOD).config!.fleet, undefined);
  const { config, problems } = parseConfigText(`${GOOD}fleet: { host: lb1.par1, etcd: { endpoints: ["http://198.51.100.1:2379"] } }\n`);
  assert.deepEqual(problems, []);
  assert.deepEqual(config!.fleet, { host: 'lb1.par1', etcd: { endpoints: ['http://198.51.100.1:2379'], prefix: '/vip-mgmt/', lease_ttl: 180_000, timeout: 2000 }, guard: 'last_dc' });
});

test('fleet: every problem with its path (endpoints, prefix, lease_ttl, guard, tls pairs, host)', () => {
  const { config, problems } = parseConfigText(`${GOOD}fleet:
  host: "lb1/par1"
  etcd: { endpoints: ["ftp://198.51.100.1:2379", "http://198.51.100.2:2379/v3", "http://198.51.100.3"], prefix: vip-mgmt, lease_ttl: 1500ms }
  guard: always
`);
  assert.equal(config, undefined);
  const paths = problems.map((p) => p.path);
  for (const want of ['fleet.host', 'fleet.etcd.endpoints[0]', 'fleet.etcd.endpoints[1]', 'fleet.etcd.endpoints[2]', 'fleet.etcd.prefix', 'fleet.etcd.lease_ttl', 'fleet.guard']) {
    assert.ok(paths.includes(want), `${want} in ${JSON.stringify(problems)}`);
  }
  const tls = parseConfigText(`${GOOD}fleet: { etcd: { endpoints: ["http://198.51.100.1:2379"], tls: { ca: /etc/ca.pem, cert: /etc/c.pem } } }\n`);
  assert.deepEqual(
    tls.problems.map((p) => p.path).sort(),
    ['fleet.etcd.endpoints', 'fleet.etcd.tls'],
  );
});
