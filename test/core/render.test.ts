// Unit tests: the render model and default template, VIP conflicts, the --check diff, and renderCommand on in-memory deps.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText, type Config } from '../../src/config/load.ts';
import { buildRenderModel, diffRendered, findConflicts, formatDifferences, renderSnippet, type RenderDifference } from '../../src/core/render.ts';
import { parseRunningConfig } from '../../src/core/frrconfig.ts';
import { VipError } from '../../src/core/errors.ts';
import type { ResolvedName, RunningBgp, State } from '../../src/core/types.ts';
import { renderCommand } from '../../src/cli/render.ts';
import type { Deps } from '../../src/cli/context.ts';

const TEMPLATE = readFileSync(join(import.meta.dirname, '..', '..', 'templates', 'frr.conf.mustache'), 'utf8');

function configOf(yaml: string): Config {
  const { config, problems } = parseConfigText(yaml, '/etc/vip-mgmt/config.yaml');
  assert.deepEqual(problems, []);
  return config!;
}

const CONFIG = configOf(`
dc: par1
vip_prefixes: [192.0.2.0/24, 2001:db8::/48, 198.51.100.7/32]
datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 }, ams1: { asn: 64514 } }
prepend: { base: 1 }
services:
  - { name: www.example.test, prefer: [par1, lon1] }
  - { name: api.example.test, prefer: [lon1, ams1, par1] }
  - { name: mail.example.test, prefer: [lon1] }
`);

const r = (name: string, ...addresses: string[]): ResolvedName => ({ name, chain: [], addresses, ttl: 60 });
const mapOf = (...rs: ResolvedName[]) => new Map(rs.map((x) => [x.name, x]));
const RESOLVED = mapOf(
  r('www.example.test', '192.0.2.10', '2001:db8::10'),
  r('api.example.test', '192.0.2.2', '198.51.100.7'),
  r('mail.example.test', '192.0.2.99'),
);
const render = (config: Config, dc: string, resolved = RESOLVED) => renderSnippet(TEMPLATE, buildRenderModel(config, dc, resolved, config.source));
const body = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('!'));

describe('render model and default template', () => {
  test('the whole snippet for par1: prefix-lists, ranks in use, networks under their address family', () => {
    assert.deepEqual(body(render(CONFIG, 'par1')), [
      'ip prefix-list VIP-PREFIXES-V4 seq 5 permit 192.0.2.0/24 ge 32',
      'ip prefix-list VIP-PREFIXES-V4 seq 10 permit 198.51.100.7/32',
      'ipv6 prefix-list VIP-PREFIXES-V6 seq 5 permit 2001:db8::/48 ge 128',
      'route-map VIP-RANK-0 permit 10',
      ' set as-path prepend 64512',
      'exit',
      'route-map VIP-RANK-2 permit 10',
      ' set as-path prepend 64512 64512 64512',
      'exit',
      // three DCs: VIP-DRAIN prepends 3 + 1 times, longer than any rank's path
      'route-map VIP-DRAIN permit 10',
      ' set as-path prepend 64512 64512 64512 64512',
      ' set community graceful-shutdown additive',
      'exit',
      'router bgp 64512',
      ' address-family ipv4 unicast',
      '  network 192.0.2.2/32 route-map VIP-RANK-2',
      '  network 192.0.2.10/32 route-map VIP-RANK-0',
      '  network 198.51.100.7/32 route-map VIP-RANK-2',
      ' exit-address-family',
      ' address-family ipv6 unicast',
      '  network 2001:db8::10/128 route-map VIP-RANK-0',
      ' exit-address-family',
      'exit',
    ]);
  });

  test('the header names the DC, its AS, the config file and the ranks defined, without a timestamp', () => {
    const text = render(CONFIG, 'par1');
    const header = text.split('\n').filter((l) => l.startsWith('!')).join('\n');
    assert.match(header, /datacenter par1 \(router bgp 64512\), rendered from \/etc\/vip-mgmt\/config\.yaml/);
    assert.match(header, /Defined here: ranks 0, 2 \(those par1 uses, and 0,/);
    assert.match(header, /does not announce mail\.example\.test \(prefer: lon1\)/);
    assert.doesNotMatch(text, /\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d/, 'no date or time: a config-management diff shows only real changes');
  });

  test('same input in any order gives the same bytes', () => {
    const shuffled = configOf(`
dc: lon1
vip_prefixes: [198.51.100.7/32, 2001:db8:0::/48, 192.0.2.0/24, 192.0.2.0/24]
datacenters: { ams1: { asn: 64514 }, lon1: { asn: 64513 }, par1: { asn: 64512 } }
prepend: { base: 1 }
services:
  - { name: mail.example.test, prefer: [lon1] }
  - { name: API.example.test., prefer: [lon1, ams1, par1] }
  - { name: www.example.test, prefer: [par1, lon1] }
`);
    const resolved = mapOf(
      r('mail.example.test', '192.0.2.99'),
      r('api.example.test', '198.51.100.7', '192.0.2.2'),
      r('www.example.test', '2001:DB8:0::10', '192.0.2.10', '192.0.2.10'),
    );
    const a = render(CONFIG, 'par1');
    assert.equal(render(shuffled, 'par1', resolved), a);
    assert.equal(render(CONFIG, 'par1'), a, 'rendering twice is byte-identical');
    assert.equal(render(shuffled, 'lon1', resolved), render(CONFIG, 'lon1'));
  });

  test('rank r prepends base + r times; rank 0 with base 0 has no set line', () => {
    const c = configOf(`
dc: a
vip_prefixes: [192.0.2.0/24]
datacenters: { a: { asn: 65001 }, b: { asn: 65002 }, c: { asn: 65003 } }
services:
  - { name: s0.test, prefer: [a, b, c] }
  - { name: s2.test, prefer: [b, c, a] }
`);
    const res = mapOf(r('s0.test', '192.0.2.1'), r('s2.test', '192.0.2.2'));
    const m = buildRenderModel(c, 'a', res, 'x');
    assert.deepEqual(
      m.routeMaps.map((x) => [x.name, x.count, x.prepend?.asPath ?? null]),
      [
        ['VIP-RANK-0', 0, null],
        ['VIP-RANK-2', 2, '65001 65001'],
      ],
    );
    const text = renderSnippet(TEMPLATE, m);
    assert.match(text, /route-map VIP-RANK-0 permit 10\nexit\n/);
    assert.deepEqual(
      buildRenderModel(c, 'c', res, 'x').routeMaps.map((x) => [x.name, x.prepend?.asPath]),
      [
        ['VIP-RANK-0', undefined],
        ['VIP-RANK-1', '65003'],
        ['VIP-RANK-2', '65003 65003'],
      ],
      'c is rank 2 of s0 and rank 1 of s2, with its own AS; rank 0 is always there for -a of an address',
    );
  });

  test('a DC not in a service prefer list announces none of its VIPs; IPv4-only leaves out the ipv6 family', () => {
    const lon1 = render(CONFIG, 'lon1');
    assert.match(lon1, /network 192\.0\.2\.99\/32 route-map VIP-RANK-0/);
    const ams1 = buildRenderModel(CONFIG, 'ams1', RESOLVED, 'x');
    assert.deepEqual(
      ams1.vips.map((v) => [v.prefix, v.routeMap, v.service]),
      [
        ['192.0.2.2/32', 'VIP-RANK-1', 'api.example.test'],
        ['198.51.100.7/32', 'VIP-RANK-1', 'api.example.test'],
      ],
    );
    const text = renderSnippet(TEMPLATE, ams1);
    assert.doesNotMatch(text, /192\.0\.2\.10|192\.0\.2\.99|2001:db8::10/);
    assert.doesNotMatch(text, /address-family ipv6/);
    assert.match(text, /ipv6 prefix-list VIP-PREFIXES-V6/, 'the filter still covers every vip_prefix');
  });

  test('a DC that announces nothing still gets its router bgp, prefix-lists and VIP-RANK-0 (for -a of an address)', () => {
    const c = configOf(`
dc: a
vip_prefixes: [2001:db8::/48]
datacenters: { a: { asn: 65001 }, b: { asn: 65002 } }
services: [{ name: s.test, prefer: [b] }]
`);
    const text = renderSnippet(TEMPLATE, buildRenderModel(c, 'a', mapOf(r('s.test', '2001:db8::1')), 'x'));
    assert.deepEqual(body(text), [
      'ipv6 prefix-list VIP-PREFIXES-V6 seq 5 permit 2001:db8::/48 ge 128',
      'route-map VIP-RANK-0 permit 10',
      'exit',
      'route-map VIP-DRAIN permit 10',
      ' set as-path prepend 65001 65001',
      ' set community graceful-shutdown additive',
      'exit',
      'router bgp 65001',
      'exit',
    ]);
    assert.match(text, /Defined here: ranks 0 /);
  });

  test('two names with the same prefer list share a VIP: one network line naming both', () => {
    const c = configOf(`
dc: a
vip_prefixes: [192.0.2.0/24]
datacenters: { a: { asn: 65001 }, b: { asn: 65002 } }
services: [{ name: x.test, prefer: [a, b] }, { name: y.test, prefer: [a, b] }]
`);
    const m = buildRenderModel(c, 'a', mapOf(r('x.test', '192.0.2.1'), r('y.test', '192.0.2.1')), 'x');
    assert.deepEqual(m.vips, [{ vip: '192.0.2.1', prefix: '192.0.2.1/32', family: 4, service: 'x.test,y.test', services: ['x.test', 'y.test'], rank: 0, routeMap: 'VIP-RANK-0' }]);
  });

  test('refusals: unknown DC (usage), VIP outside vip_prefixes and two ranks for one VIP (policy), all listed', () => {
    assert.throws(() => buildRenderModel(CONFIG, 'pra1', RESOLVED, 'x'), (e: VipError) => e.code === 'VIP_E_USAGE' && /ams1, lon1, par1/.test(e.message));
    const bad = mapOf(r('www.example.test', '203.0.113.5', '192.0.2.10'), r('api.example.test', '192.0.2.10'), r('mail.example.test', '192.0.2.99'));
    assert.throws(
      () => buildRenderModel(CONFIG, 'par1', bad, 'x'),
      (e: VipError) =>
        e.exit === 5 &&
        /www\.example\.test resolves to 203\.0\.113\.5, which is outside vip_prefixes/.test(e.message) &&
        /192\.0\.2\.10 is claimed by www\.example\.test \(rank 0\), api\.example\.test \(rank 2\) in dc par1/.test(e.message),
    );
  });

  test('text that lands in a comment cannot start a command', () => {
    const m = buildRenderModel(CONFIG, 'par1', RESOLVED, '/tmp/evil\nrouter bgp 1');
    assert.doesNotMatch(renderSnippet(TEMPLATE, m), /^router bgp 1$/m);
  });

  test('renderSnippet does not HTML-escape, and reports a broken template as VIP_E_TEMPLATE', () => {
    const m = buildRenderModel(CONFIG, 'par1', RESOLVED, 'x');
    assert.equal(renderSnippet('{{#vips}}{{prefix}} {{/vips}}', m), '192.0.2.2/32 192.0.2.10/32 198.51.100.7/32 2001:db8::10/128 ');
    assert.throws(() => renderSnippet('{{#vips}}', m), (e: VipError) => e.code === 'VIP_E_TEMPLATE');
  });
});

describe('findConflicts', () => {
  const c = configOf(`
dc: a
vip_prefixes: [192.0.2.0/24, 2001:db8::/48]
datacenters: { a: { asn: 65001 }, b: { asn: 65002 } }
services:
  - { name: one.test, prefer: [a, b] }
  - { name: two.test, prefer: [a, b] }
  - { name: three.test, prefer: [b, a] }
  - { name: four.test, prefer: [a] }
`);

  test('a VIP shared by services with different prefer lists is a problem on the later service, naming both and the VIP', () => {
    const problems = findConflicts(
      c,
      mapOf(
        r('one.test', '192.0.2.1', '2001:db8::1'),
        r('two.test', '192.0.2.1'),
        r('three.test', '2001:DB8:0:0::1', '192.0.2.1', '192.0.2.3'),
        r('four.test', '192.0.2.4'),
      ),
    );
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]!.path, 'services[2].name');
    assert.match(problems[0]!.message, /three\.test and one\.test \(services\[0\]\) both resolve to 192\.0\.2\.1, 2001:db8::1, but prefer \[b, a\] vs \[a, b\]/);
  });

  test('a prefer list that is a prefix of another still differs; unresolved services are skipped', () => {
    const problems = findConflicts(c, mapOf(r('one.test', '192.0.2.1'), r('four.test', '192.0.2.1')));
    assert.deepEqual(problems.map((p) => p.path), ['services[3].name']);
    assert.deepEqual(findConflicts(c, mapOf(r('one.test', '192.0.2.1'))), []);
  });
});

// Captured from FRR 8.4.4 (Debian 12 package) in a lab namespace: bgpd started with the lab's
// startup config plus the par1 snippet rendered from CONFIG, then `vtysh -N <ps> -c 'show running-config'`.
const RUNNING_PAR1 = `Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults datacenter
hostname par1
no ip forwarding
no ipv6 forwarding
!
router bgp 64512
 bgp router-id 198.51.100.1
 neighbor 198.51.100.2 remote-as 65000
 neighbor 2001:db8:ffff:1::2 remote-as 65000
 !
 address-family ipv4 unicast
  network 192.0.2.2/32 route-map VIP-RANK-2
  network 192.0.2.10/32 route-map VIP-RANK-0
  network 198.51.100.7/32 route-map VIP-RANK-2
  no neighbor 2001:db8:ffff:1::2 activate
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8::10/128 route-map VIP-RANK-0
  neighbor 2001:db8:ffff:1::2 activate
 exit-address-family
exit
!
ip prefix-list VIP-PREFIXES-V4 seq 5 permit 192.0.2.0/24 ge 32
ip prefix-list VIP-PREFIXES-V4 seq 10 permit 198.51.100.7/32
!
ipv6 prefix-list VIP-PREFIXES-V6 seq 5 permit 2001:db8::/48 ge 128
!
route-map VIP-RANK-0 permit 10
 set as-path prepend 64512
exit
!
route-map VIP-RANK-2 permit 10
 set as-path prepend 64512 64512 64512
exit
!
route-map VIP-DRAIN permit 10
 set as-path prepend 64512 64512 64512 64512
 set community graceful-shutdown additive
exit
!
end
`;

describe('diffRendered (render --check)', () => {
  const snippet = render(CONFIG, 'par1');
  const scope = { vipPrefixes: CONFIG.vip_prefixes };
  const edit = (from: string | RegExp, to: string): RunningBgp => {
    const text = RUNNING_PAR1.replace(from, to);
    assert.notEqual(text, RUNNING_PAR1, `fixture edit ${String(from)} did not apply`);
    return parseRunningConfig(text);
  };
  const lines = (d: RenderDifference[]) => d.map((x) => `${x.action === 'add' ? '+' : '-'} ${[...x.context, x.line].join(' / ')}`);

  test('in sync with what FRR printed after loading the snippet', () => {
    assert.deepEqual(diffRendered(snippet, parseRunningConfig(RUNNING_PAR1), scope), []);
  });

  test('ordering, whitespace, prefix spelling and unrelated config do not count', () => {
    const running = parseRunningConfig(
      RUNNING_PAR1.replace('  network 192.0.2.2/32 route-map VIP-RANK-2\n', '')
        .replace('  network 198.51.100.7/32 route-map VIP-RANK-2\n', '  network 198.51.100.7/32 route-map VIP-RANK-2\n  network 192.0.2.2/32 route-map VIP-RANK-2\n')
        .replace('  network 2001:db8::10/128 route-map VIP-RANK-0\n', '  network 2001:DB8:0::10/128   route-map VIP-RANK-0\n')
        .replace('ip prefix-list VIP-PREFIXES-V4 seq 5 permit 192.0.2.0/24 ge 32\nip prefix-list VIP-PREFIXES-V4 seq 10', 'ip prefix-list VIP-PREFIXES-V4 seq 10 permit 192.0.2.0/24 ge 32\nip prefix-list VIP-PREFIXES-V4 seq 20')
        .replace(' set as-path prepend 64512\n', '  set  as-path prepend 64512\n')
        .replace('end\n', 'ip prefix-list OTHER seq 5 permit 10.0.0.0/8\nroute-map PEER-OUT permit 10\n match ip address prefix-list VIP-PREFIXES-V4\nexit\nend\n')
        .replace('  no neighbor', '  network 203.0.113.0/24\n  network 192.0.2.0/24\n  no neighbor'),
    );
    assert.equal(running.networks.length, 6, 'the edited fixture still parses');
    assert.deepEqual(diffRendered(snippet, running, scope), [], 'networks outside vip_prefixes and aggregates are not vip-mgmt\'s');
  });

  test('prefix-list entries missing or extra', () => {
    const running = edit('ip prefix-list VIP-PREFIXES-V4 seq 10 permit 198.51.100.7/32\n', 'ip prefix-list VIP-PREFIXES-V4 seq 10 permit 203.0.113.0/24 ge 32\n');
    assert.deepEqual(lines(diffRendered(snippet, running, scope)), [
      '+ ip prefix-list VIP-PREFIXES-V4 seq 10 permit 198.51.100.7/32',
      '- ip prefix-list VIP-PREFIXES-V4 seq 10 permit 203.0.113.0/24 ge 32',
    ]);
    const v6 = edit('ipv6 prefix-list VIP-PREFIXES-V6 seq 5 permit 2001:db8::/48 ge 128\n', '');
    assert.deepEqual(lines(diffRendered(snippet, v6, scope)), ['+ ipv6 prefix-list VIP-PREFIXES-V6 seq 5 permit 2001:db8::/48 ge 128']);
  });

  test('route-map: a changed prepend, a missing route-map, a VIP-RANK one the snippet does not define', () => {
    const running = edit(
      'route-map VIP-RANK-0 permit 10\n set as-path prepend 64512\nexit\n',
      'route-map VIP-RANK-1 permit 10\n set as-path prepend 64512 64512\nexit\n',
    );
    const changed = edit(' set as-path prepend 64512 64512 64512\n', ' set as-path prepend 64512 64512\n');
    assert.deepEqual(lines(diffRendered(snippet, running, scope)), [
      '+ route-map VIP-RANK-0 permit 10',
      '+ route-map VIP-RANK-0 permit 10 / set as-path prepend 64512',
      '- route-map VIP-RANK-1 permit 10',
      '- route-map VIP-RANK-1 permit 10 / set as-path prepend 64512 64512',
    ]);
    assert.deepEqual(lines(diffRendered(snippet, changed, scope)), [
      '- route-map VIP-RANK-2 permit 10 / set as-path prepend 64512 64512',
      '+ route-map VIP-RANK-2 permit 10 / set as-path prepend 64512 64512 64512',
    ]);
  });

  test('networks: missing, extra inside vip_prefixes, and announced with another route-map, per family', () => {
    const running = parseRunningConfig(
      RUNNING_PAR1.replace('  network 192.0.2.10/32 route-map VIP-RANK-0\n', '  network 192.0.2.77/32\n')
        .replace('network 2001:db8::10/128 route-map VIP-RANK-0', 'network 2001:db8::10/128 route-map VIP-RANK-2'),
    );
    const d = diffRendered(snippet, running, scope);
    assert.deepEqual(lines(d), [
      '+ router bgp 64512 / address-family ipv4 unicast / network 192.0.2.10/32 route-map VIP-RANK-0',
      '- router bgp 64512 / address-family ipv4 unicast / network 192.0.2.77/32',
      '- router bgp 64512 / address-family ipv6 unicast / network 2001:db8::10/128 route-map VIP-RANK-2',
      '+ router bgp 64512 / address-family ipv6 unicast / network 2001:db8::10/128 route-map VIP-RANK-0',
    ]);
    assert.equal(d[0]!.prefix, '192.0.2.10/32');
    assert.equal(
      formatDifferences(d),
      [
        '  router bgp 64512',
        '   address-family ipv4 unicast',
        '+   network 192.0.2.10/32 route-map VIP-RANK-0',
        '-   network 192.0.2.77/32',
        '   address-family ipv6 unicast',
        '-   network 2001:db8::10/128 route-map VIP-RANK-2',
        '+   network 2001:db8::10/128 route-map VIP-RANK-0',
      ].join('\n'),
    );
  });

  test('without vipPrefixes every running network is compared', () => {
    const running = edit('  no neighbor', '  network 203.0.113.0/24\n  no neighbor');
    assert.deepEqual(lines(diffRendered(snippet, running)), ['- router bgp 64512 / address-family ipv4 unicast / network 203.0.113.0/24']);
  });

  test('a snippet for another AS differs: router bgp and every network move', () => {
    const lon1 = render(CONFIG, 'lon1');
    const d = diffRendered(lon1, parseRunningConfig(RUNNING_PAR1), scope);
    const rb = d.filter((x) => x.kind === 'router-bgp');
    assert.deepEqual(lines(rb), ['+ router bgp 64513', '- router bgp 64512']);
    assert.match(rb[0]!.note!, /speaker runs router bgp 64512/);
    const nets = lines(d.filter((x) => x.kind === 'network'));
    assert.ok(nets.includes('+ router bgp 64513 / address-family ipv4 unicast / network 192.0.2.99/32 route-map VIP-RANK-0'), nets.join('\n'));
    assert.ok(nets.includes('- router bgp 64512 / address-family ipv6 unicast / network 2001:db8::10/128 route-map VIP-RANK-0'), nets.join('\n'));
    assert.equal(nets.length, 4 + 5, 'four running networks go, five rendered ones come');
  });

  test('a speaker without router bgp: add router bgp and every network', () => {
    const none = parseRunningConfig('Building configuration...\n!\nfrr version 8.4.4\n!\nend\n');
    const d = diffRendered(snippet, none, scope);
    assert.equal(d.filter((x) => x.kind === 'network' && x.action === 'add').length, 4);
    assert.equal(d.filter((x) => x.action === 'remove').length, 0);
    assert.match(formatDifferences(d), /^\+ router bgp 64512 {4}\(the speaker has no router bgp yet\)\n {3}address-family ipv4 unicast\n\+ {3}network 192\.0\.2\.2\/32/m, 'the added block is not repeated as context');
  });
});

describe('renderCommand on in-memory deps', () => {
  const errors: string[] = [];
  function deps(opts: { running?: string; state?: Partial<State>; json?: boolean; fail?: Record<string, VipError> }) {
    const out: string[] = [];
    const d = {
      opts: { config: CONFIG.source, json: opts.json ?? false, dryRun: false, quiet: false, verbose: false, color: false },
      config: CONFIG,
      resolver: {
        resolve: async (name: string) => {
          if (opts.fail?.[name]) throw opts.fail[name];
          const x = RESOLVED.get(name);
          if (!x) throw new Error(`unexpected name ${name}`);
          return x;
        },
      },
      speaker: {
        readRunning: async () => parseRunningConfig(opts.running ?? RUNNING_PAR1),
        apply: async () => assert.fail('render never applies'),
        lookup: async () => assert.fail('render never looks up'),
      },
      store: {
        lock: async () => assert.fail('render takes no lock'),
        read: async () => ({ version: 1, holds: {}, watchdog: {}, dns: {}, ...opts.state }) as State,
        write: async () => assert.fail('render writes no state'),
      },
      clock: { now: () => new Date(0) },
      log: { debug() {}, info() {}, warn: (_f: unknown, m: string) => void errors.push(m), error: (_f: unknown, m: string) => void errors.push(m) },
      out: { data: (t: string) => void out.push(t), json: (v: unknown) => void out.push(JSON.stringify(v)) },
    } as unknown as Deps;
    return { d, out };
  }

  test('prints the snippet, or under --json {dc, asn, text, vips}', async () => {
    const a = deps({});
    assert.equal(await renderCommand(a.d, { check: false }), 0);
    assert.equal(a.out.join(''), render(CONFIG, 'par1'));
    const j = deps({ json: true });
    assert.equal(await renderCommand(j.d, { dc: 'lon1', check: false }), 0);
    const doc = JSON.parse(j.out[0]!);
    assert.equal(doc.dc, 'lon1');
    assert.equal(doc.asn, 64513);
    assert.equal(doc.text, render(CONFIG, 'lon1'));
    assert.deepEqual(doc.vips[0], { vip: '192.0.2.2', prefix: '192.0.2.2/32', service: 'api.example.test', rank: 0, routeMap: 'VIP-RANK-0' });
  });

  test('usage errors: unknown --dc lists the known ones; --check for another DC', async () => {
    await assert.rejects(renderCommand(deps({}).d, { dc: 'pra1', check: false }), (e: VipError) => e.exit === 2 && /ams1, lon1, par1/.test(e.message));
    await assert.rejects(renderCommand(deps({}).d, { dc: 'lon1', check: true }), (e: VipError) => e.exit === 2 && /this host's running config/.test(e.message));
    await assert.rejects(renderCommand(deps({}).d, { check: false, templates: '/nonexistent' }), (e: VipError) => e.code === 'VIP_E_TEMPLATE');
  });

  test('a name that does not resolve: its DNS error code, naming the service', async () => {
    const fail = { 'api.example.test': new VipError('VIP_E_DNS_NXDOMAIN', 'api.example.test does not exist (NXDOMAIN from 127.0.0.1)', { name: 'api.example.test' }) };
    await assert.rejects(renderCommand(deps({ fail }).d, { check: false }), (e: VipError) => e.exit === 4 && /api\.example\.test does not exist/.test(e.message));
  });

  test('--check: 0 in sync, 10 with the differences; a held VIP stays out of the snippet', async () => {
    const ok = deps({});
    assert.equal(await renderCommand(ok.d, { check: true }), 0);
    assert.match(ok.out.join(''), /^in sync/);
    const hold = { holds: { '192.0.2.10/32': { reason: 'kernel upgrade', by: 'alice', since: '2024-01-01T00:00:00.000Z', names: ['www.example.test'] } } };
    const held = deps({ running: RUNNING_PAR1.replace('  network 192.0.2.10/32 route-map VIP-RANK-0\n', ''), state: hold });
    assert.equal(await renderCommand(held.d, { check: true }), 0, 'withdrawn and held: in sync, reloading cannot re-announce it');
    const text = deps({ state: hold });
    assert.equal(await renderCommand(text.d, { check: false }), 0);
    assert.doesNotMatch(text.out.join(''), /^\s*network 192\.0\.2\.10\/32/m);
    assert.match(text.out.join(''), /^! held for maintenance, left out: network 192\.0\.2\.10\/32 route-map VIP-RANK-0 \(by alice since 2024-01-01T00:00:00\.000Z: kernel upgrade\)$/m);
    const back = deps({ state: hold });
    assert.equal(await renderCommand(back.d, { check: true }), 10, 'held but configured: the snippet says to remove it');
    assert.match(back.out.join(''), /- {3}network 192\.0\.2\.10\/32 route-map VIP-RANK-0/);
    const j = deps({ json: true, running: RUNNING_PAR1.replace('64512 64512 64512', '64512') });
    assert.equal(await renderCommand(j.d, { check: true }), 10);
    const doc = JSON.parse(j.out[0]!);
    assert.equal(doc.inSync, false);
    assert.equal(doc.differences.length, 2);
  });
});
