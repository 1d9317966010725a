// Unit tests: IPVS table parsers on real captures (both formats), the live-count rule, and the reader adapter.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { assertReadable, parseIpvsadmSave, parseProcIpVs, sortTable, type IpvsService, type IpvsTable } from '../../src/core/ipvs.ts';
import { ipvsVips, liveCounts } from '../../src/core/live.ts';
import { createIpvsReader, readRegularFile } from '../../src/adapters/ipvs.ts';
import { isVipError, VipError } from '../../src/core/errors.ts';
import { benchTable, formatIpvsadmSave, formatProcIpVs } from '../../bench/gen-ipvs.ts';
import { seeded } from '../random.ts';

const FIXTURES = new URL('../fixtures/ipvs/', import.meta.url).pathname;
const CAPTURES = ['mixed', 'traffic', 'keepalived', 'empty'] as const;
const fixture = (name: string, ext: 'proc' | 'save'): string => readFileSync(join(FIXTURES, `${name}.${ext}`), 'utf8');
const proc = (name: string): IpvsTable => parseProcIpVs(fixture(name, 'proc'));
const save = (name: string): IpvsTable => parseIpvsadmSave(fixture(name, 'save'));

/** `ipvsadm -S` carries no connection counters: compare the rest. */
const withoutCounters = (t: IpvsTable): IpvsService[] =>
  t.services.map((s) => ({ ...s, reals: s.reals.map((r) => ({ ...r, active: 0, inactive: 0 })) }));

const svc = (t: IpvsTable, kind: string, vip: string | null, portOrMark: number): IpvsService => {
  const s = t.services.find((x) => x.kind === kind && x.vip === vip && (vip === null ? x.fwmark : x.port) === portOrMark);
  assert.ok(s, `no ${kind} ${vip ?? 'fwm'} ${portOrMark}`);
  return s;
};

const NONE = { fwmarks: {}, exclude: [] };

describe('parsers on real captures', () => {
  for (const name of CAPTURES) {
    test(`${name}: both formats parse without warnings and give the same model`, () => {
      const p = proc(name);
      const s = save(name);
      assert.deepEqual(p.warnings, []);
      assert.deepEqual(s.warnings, []);
      assert.deepEqual(p.malformed, []);
      assert.deepEqual(s.malformed, []);
      assert.deepEqual(withoutCounters(p), withoutCounters(s));
    });
  }

  test('mixed: every kind of service, address family and forwarding method', () => {
    const t = proc('mixed');
    assert.equal(t.services.length, 11);
    // Canonical order: IPv4 VIPs, then IPv6, by port; firewall marks last.
    assert.deepEqual(
      t.services.map((s) => `${s.kind} ${s.vip ?? s.fwmark}:${s.port ?? ''}`),
      [
        'udp 192.0.2.10:53', 'tcp 192.0.2.10:80', 'tcp 192.0.2.10:443', 'tcp 192.0.2.20:443', 'tcp 192.0.2.20:8443',
        'tcp 192.0.2.30:80', 'sctp 192.0.2.30:3868', 'tcp 192.0.2.30:8080', 'tcp 2001:db8::10:80', 'fwm 7:', 'fwm 8:',
      ],
    );

    const web = svc(t, 'tcp', '192.0.2.10', 80);
    assert.equal(web.scheduler, 'rr');
    assert.equal(web.persistent, null);
    assert.deepEqual(web.reals.map((r) => [r.address, r.port, r.forward, r.weight]), [
      ['198.51.100.1', 80, 'route', 1],
      ['198.51.100.2', 80, 'route', 2],
      ['198.51.100.3', 80, 'route', 0],
    ]);

    const dns = svc(t, 'udp', '192.0.2.10', 53);
    assert.deepEqual(dns.flags, ['ops']);
    assert.deepEqual(dns.reals.map((r) => [r.address, r.port, r.forward, r.weight]), [
      ['198.51.100.1', 53, 'masq', 1],
      ['198.51.100.2', 5353, 'masq', 0],
    ]);

    // /proc prints the timeout in jiffies (HZ=250 on this kernel): 75000 -> 300 s.
    assert.equal(svc(t, 'tcp', '192.0.2.20', 443).persistent, 300);
    assert.equal(svc(t, 'tcp', '192.0.2.20', 8443).persistent, 600);
    assert.deepEqual(svc(t, 'tcp', '192.0.2.20', 443).reals.map((r) => r.forward), ['tunnel', 'tunnel']);

    const v6 = svc(t, 'tcp', '2001:db8::10', 80);
    assert.equal(v6.scheduler, 'wrr');
    assert.deepEqual(v6.reals.map((r) => [r.address, r.port, r.forward, r.weight]), [
      ['198.51.100.9', 80, 'tunnel', 1], // IPv4 real behind an IPv6 service (IPIP tunnel)
      ['2001:db8:1::1', 80, 'route', 1],
      ['2001:db8:1::2', 8080, 'masq', 3],
    ]);

    const fwm = svc(t, 'fwm', null, 7);
    assert.equal(fwm.port, null);
    assert.equal(fwm.scheduler, 'sh');
    assert.deepEqual(fwm.reals.map((r) => [r.address, r.port, r.forward]), [
      ['198.51.100.4', 0, 'route'],
      ['198.51.100.5', 0, 'tunnel'],
    ]);
    assert.deepEqual(svc(t, 'fwm', null, 8).reals.map((r) => r.address), ['2001:db8:1::8']);

    assert.deepEqual(svc(t, 'tcp', '192.0.2.30', 80).reals, [], 'a service with no real servers');
    assert.equal(svc(t, 'sctp', '192.0.2.30', 3868).reals[0]!.forward, 'masq');
  });

  test('traffic: connection counters come from /proc only', () => {
    const t = proc('traffic');
    assert.deepEqual(svc(t, 'tcp', '192.0.2.10', 81).reals.map((r) => [r.active, r.inactive]), [[2, 1]]);
    assert.deepEqual(svc(t, 'tcp', '192.0.2.10', 80).reals.map((r) => [r.active, r.inactive]), [[0, 3]]);
    assert.deepEqual(svc(save('traffic'), 'tcp', '192.0.2.10', 81).reals.map((r) => [r.active, r.inactive]), [[0, 0]]);
  });

  test('keepalived: inhibit_on_failure leaves weight 0, persistence_timeout and a sorry server', () => {
    const t = proc('keepalived');
    assert.deepEqual(svc(t, 'tcp', '192.0.2.10', 80).reals.map((r) => [r.address, r.weight]), [
      ['198.51.100.1', 10],
      ['198.51.100.2', 0],
    ]);
    assert.equal(svc(t, 'fwm', null, 7).persistent, 120);
    assert.deepEqual(svc(t, 'tcp', '192.0.2.20', 80).reals.map((r) => r.address), ['198.51.100.1']);
  });

  test('empty: the module loaded, no services', () => {
    assert.deepEqual(proc('empty'), { services: [], warnings: [], malformed: [] });
    assert.deepEqual(save('empty'), { services: [], warnings: [], malformed: [] });
  });

  test('persistence in /proc follows the kernel HZ given', () => {
    assert.equal(svc(parseProcIpVs(fixture('mixed', 'proc'), { hz: 1000 }), 'tcp', '192.0.2.20', 443).persistent, 75);
  });
});

describe('the bench generator prints what the kernel and ipvsadm print', () => {
  const lines = (text: string): string[] => text.split('\n').sort();
  for (const name of CAPTURES) {
    test(`${name}: /proc/net/ip_vs and ipvsadm -S -n re-created line for line`, () => {
      // The model keeps no persistence netmask: the one service captured with -M 255.255.255.0 differs there.
      const masked = (l: string): string => l.replace(/ FFFFFF00$/, ' FFFFFFFF').replace(/ -M 255\.255\.255\.0$/, '');
      assert.deepEqual(lines(formatProcIpVs(proc(name))), lines(fixture(name, 'proc')).map(masked));
      assert.deepEqual(lines(formatIpvsadmSave(save(name))), lines(fixture(name, 'save')).map(masked));
    });
  }

  test('a generated table parses back to itself in both formats', () => {
    const t = benchTable({ services: 500, reals: 4, seed: 7 });
    const p = parseProcIpVs(formatProcIpVs(t));
    const s = parseIpvsadmSave(formatIpvsadmSave(t));
    assert.deepEqual(p.warnings, []);
    assert.deepEqual(s.warnings, []);
    assert.equal(p.services.length, 500);
    assert.deepEqual(withoutCounters(p), withoutCounters(s));
    assert.deepEqual(p.services, parseProcIpVs(formatProcIpVs(p)).services);
  });
});

describe('kept-but-unknown lines are warnings; lines the parser cannot read are malformed', () => {
  test('/proc/net/ip_vs', () => {
    const text = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn',
      '  -> C6336401:0050      Route   1      0          0', // before any service
      'TCP  C000020A:0050 rr  ',
      '  -> C6336401:0050      Route   1      0          0',
      '  -> C6336402:0050      Bypass  1      0          0', // unknown forwarding method: kept
      '  -> C6336403:0050      Route   heavy  0          0', // bad weight: dropped
      'ICMP  C000020A:0000 rr  ', // protocol the kernel prints by name: kept
      '  -> C6336404:0000      Route   1      0          0',
      'IP_51  C000020B:0000 sh  ', // IP_<number> for any other protocol: kept
      'this is not an ip_vs line',
      '  -> C6336405:0050      Route   1      0          0', // after garbage: not attributed
      'TCP  C000020C:0050 rr ops turbo ',
      '',
    ].join('\n');
    const t = parseProcIpVs(text);
    assert.deepEqual(
      t.services.map((s) => [s.kind, s.vip, s.port, s.reals.map((r) => `${r.address} ${r.forward}`)]),
      [
        ['icmp', '192.0.2.10', 0, ['198.51.100.4 route']],
        ['tcp', '192.0.2.10', 80, ['198.51.100.1 route', '198.51.100.2 bypass']],
        ['ip_51', '192.0.2.11', 0, []],
        ['tcp', '192.0.2.12', 80, []],
      ],
    );
    assert.deepEqual(t.services[3]!.flags, ['ops', 'turbo']);
    // understood and kept: warnings
    assert.deepEqual(t.warnings, [
      'line 7: unknown forwarding method "Bypass" kept as "bypass"',
      'line 9: unknown protocol "ICMP" kept as "icmp"',
      'line 11: unknown protocol "IP_51" kept as "ip_51"',
      'line 14: unknown service flag "turbo"',
    ]);
    // not understood: malformed, which makes the whole table unreadable
    assert.deepEqual(t.malformed, [
      'line 4: real server before any virtual service: -> C6336401:0050      Route   1      0          0',
      'line 8: weight "heavy" is not an integer from -2147483648 to 2147483647: -> C6336403:0050      Route   heavy  0          0',
      'line 12: not an IPVS service line: this is not an ip_vs line',
      'line 13: real server before any virtual service: -> C6336405:0050      Route   1      0          0',
    ]);
  });

  test('ipvsadm -S', () => {
    const text = [
      '-A -t 192.0.2.10:80 -s rr --frobnicate',
      '-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1',
      '-a -t 192.0.2.10:80 -r 198.51.100.2:80 -w 3', // no method: ipvsadm's default -g
      '-a -t 192.0.2.10:80 -r 198.51.100.3:80 -m -w many',
      '-a -t 192.0.2.11:80 -r 198.51.100.4:80 -m', // no -A before it: service assumed
      '-A -t www.example.com:http -s rr', // without -n: names are not guessed at
      '-A -u 192.0.2.12:53', // default scheduler wlc
      '-A -f 0x10 -s rr -p', // hex mark, -p without a value (300 s)
      'Flush',
      '',
    ].join('\n');
    const t = parseIpvsadmSave(text);
    assert.deepEqual(
      t.services.map((s) => [s.kind, s.vip ?? s.fwmark, s.scheduler, s.persistent, s.reals.map((r) => `${r.address} ${r.forward} ${r.weight}`)]),
      [
        ['tcp', '192.0.2.10', 'rr', null, ['198.51.100.1 route 1', '198.51.100.2 route 3']],
        ['tcp', '192.0.2.11', 'unknown', null, ['198.51.100.4 masq 1']],
        ['udp', '192.0.2.12', 'wlc', null, []],
        ['fwm', 16, 'rr', 300, []],
      ],
    );
    assert.deepEqual(t.warnings, [
      'line 1: unknown ipvsadm option "--frobnicate" ignored',
      'line 5: real server for tcp 192.0.2.11:80, which has no -A line; service assumed',
    ]);
    assert.equal(t.malformed.length, 3, t.malformed.join('\n'));
    assert.match(t.malformed[0]!, /^line 4: bad weight "many" \(an integer from -2147483648 to 2147483647\): -a -t 192\.0\.2\.10:80/);
    assert.match(t.malformed[1]!, /^line 6: bad service address "www\.example\.com:http" \(names need ipvsadm -S -n\): -A -t www/);
    assert.equal(t.malformed[2], 'line 9: not an ipvsadm -A/-a rule: Flush');
  });
});

const HEAD = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port Scheduler Flags',
  '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn',
];
/** A /proc table: the headers, one good service with one real server, then LINES; newline-terminated. */
const procWith = (...lines: string[]): string =>
  [...HEAD, 'TCP  C000020A:0050 rr', '  -> C6336401:0050      Route   1      0          0', ...lines, ''].join('\n');

describe('malformed /proc/net/ip_vs lines (step table)', () => {
  const big = '9'.repeat(400);
  const table: [string, string, RegExp][] = [
    ['real line cut after a column', '  -> C6336402:0050      Route   1      0', /line 6: a real server line has 6 columns, this one 5: -> C6336402:0050/],
    ['real line with a column too many', '  -> C6336402:0050      Route   1      0          0  7', /6 columns, this one 7/],
    ['real line of one column', '  ->', /6 columns, this one 1/],
    ['400-digit weight (Infinity)', `  -> C6336402:0050      Route   ${big}      0          0`, /weight "9{20}.*" is not an integer from -2147483648 to 2147483647/],
    ['weight past int32', '  -> C6336402:0050      Route   2147483648      0          0', /weight "2147483648" is not an integer/],
    ['weight with a fraction', '  -> C6336402:0050      Route   1.5      0          0', /weight "1\.5"/],
    ['weight in hex', '  -> C6336402:0050      Route   0x10      0          0', /weight "0x10"/],
    ['400-digit counter', `  -> C6336402:0050      Route   1      ${big}          0`, /connection counters are not integers in range/],
    ['counter not a number', '  -> C6336402:0050      Route   1      0          lots', /connection counters/],
    ['bad hex in a real address', '  -> C633640Z:0050      Route   1      0          0', /bad address "C633640Z:0050"/],
    ['real address too short', '  -> C63364:0050      Route   1      0          0', /bad address/],
    ['real port of 5 hex digits', '  -> C6336402:10050      Route   1      0          0', /bad address/],
    ['numeric forwarding method', '  -> C6336402:0050      7   1      0          0', /bad forwarding method "7"/],
    ['bad hex in a service address', 'TCP  C00002ZA:0050 rr', /line 6: not an IPVS service line: TCP  C00002ZA:0050 rr/],
    ['IPv6 service not fully bracketed', 'TCP  [2001:0db8:0000:0000:0000:0000:0000:0010:0050 rr', /not an IPVS service line/],
    ['service cut before its scheduler', 'TCP  C000020B:0050', /no scheduler/],
    ['bad firewall mark', 'FWM  0000000G sh', /bad firewall mark "0000000G"/],
    ['firewall mark of 9 hex digits', 'FWM  100000000 sh', /bad firewall mark/],
    ['persistence without its netmask', 'TCP  C000020B:0050 sh persistent 75000', /bad persistence \(expected "persistent <jiffies> <netmask>"\)/],
    ['persistence not a number', 'TCP  C000020B:0050 sh persistent soon FFFFFFFF', /bad persistence/],
    ['persistence of 400 digits', `TCP  C000020B:0050 sh persistent ${big} FFFFFFFF`, /bad persistence/],
    ['protocol that is not a word', '42  C000020B:0050 rr', /not an IPVS service line/],
    ['control characters are escaped', 'TCP\x1b[2J  C000020B rr\x07', /not an IPVS service line: TCP\\x1b\[2J  C000020B rr\\x07$/],
  ];
  for (const [what, line, want] of table) {
    test(what, () => {
      const t = parseProcIpVs(procWith(line));
      assert.equal(t.malformed.length, 1, `${what}: ${JSON.stringify(t)}`);
      assert.match(t.malformed[0]!, want);
      assert.match(t.malformed[0]!, /^line 6: /);
      assert.doesNotMatch(t.malformed[0]!, /[\x00-\x1f\x7f]/, 'no raw control characters');
      assert.throws(() => assertReadable(t, '/proc/net/ip_vs'), (e: unknown) => e instanceof VipError && e.code === 'VIP_E_IPVS_UNREADABLE');
    });
  }

  test('a read cut mid-line (no newline at the end) is malformed even when the piece looks valid', () => {
    // "rr ops" cut to "rr", and a real server cut after its weight
    for (const [text, piece] of [
      [`${procWith()}UDP  C000020A:0035 rr`, 'UDP  C000020A:0035 rr'],
      [`${procWith()}  -> C6336402:0050      Route   1      0          0`, '-> C6336402:0050      Route   1      0          0'],
      [procWith().slice(0, -1), '-> C6336401:0050      Route   1      0          0'],
    ] as const) {
      const t = parseProcIpVs(text);
      const n = text.split('\n').length;
      assert.deepEqual(t.malformed, [`line ${n}: cut short (no newline at the end of the text): ${piece}`]);
    }
    assert.deepEqual(parseProcIpVs('').malformed, [], 'no text is no cut line (an empty table is judged elsewhere)');
  });

  test('values at the edges of their range still parse', () => {
    const t = parseProcIpVs(procWith(
      'TCP  C000020B:FFFF wrr persistent 4294967000 FFFFFFFF',
      '  -> C6336402:0050      Route   2147483647      2147483647          0',
      '  -> C6336403:0050      Route   -2147483648      0          -1',
      '  -> C6336404:0050      Route   0      0          0',
      'FWM  FFFFFFFF sh',
    ), { hz: 1000 });
    assert.deepEqual(t.malformed, []);
    const s = svc(t, 'tcp', '192.0.2.11', 65535);
    assert.deepEqual(s.reals.map((r) => r.weight), [2147483647, -2147483648, 0]);
    assert.equal(s.reals[0]!.active, 2147483647);
    assert.equal(s.persistent, 4294967);
    assert.equal(svc(t, 'fwm', null, 0xffffffff).scheduler, 'sh');
  });

  test('kept but unknown is a warning only: the table stays readable', () => {
    const t = parseProcIpVs(procWith('AH  C000020B:0000 rr frob', '  -> C6336402:0000      Teleport   1      0          0'));
    assert.deepEqual(t.malformed, []);
    assert.equal(t.warnings.length, 3);
    assert.doesNotThrow(() => assertReadable(t, '/proc/net/ip_vs'));
    assert.deepEqual(svc(t, 'ah', '192.0.2.11', 0).reals.map((r) => r.forward), ['teleport']);
  });

  test('an IPv4-mapped service address stays IPv6 (never the IPv4 VIP)', () => {
    const t = parseProcIpVs(procWith('TCP  [0000:0000:0000:0000:0000:ffff:c000:020a]:0050 rr', '  -> C6336402:0050      Route   1      0          0'));
    assert.deepEqual(t.malformed, []);
    assert.deepEqual(t.services.map((s) => s.vip), ['192.0.2.10', '::ffff:c000:20a']);
    assert.deepEqual(liveCounts(t, ['192.0.2.10'], NONE).get('192.0.2.10'), { live: 1, services: 1 }, 'the mapped service is not 192.0.2.10\'s');
  });
});

describe('malformed ipvsadm -S -n lines (step table)', () => {
  const big = '9'.repeat(400);
  const table: [string, string, RegExp][] = [
    ['400-digit weight', `-a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w ${big}`, /bad weight "9{20}/],
    ['weight past int32', '-a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 2147483648', /bad weight "2147483648"/],
    ['weight cut off (option without its value)', '-a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w', /-w without a value/],
    ['real server without -r', '-a -t 192.0.2.10:80 -g -w 1', /bad or missing -r real server ""/],
    ['real server port out of range', '-a -t 192.0.2.10:80 -r 198.51.100.2:99999 -g -w 1', /bad or missing -r real server "198\.51\.100\.2:99999"/],
    ['persistence of 400 digits', `-A -t 192.0.2.11:80 -s rr -p ${big}`, /persistence "9{20}.*" is not a number of seconds in range/],
    ['firewall mark of 9 hex digits', '-A -f 0x100000000 -s rr', /bad firewall mark "0x100000000"/],
    ['firewall mark past 2^32-1', '-A -f 4294967296 -s rr', /bad firewall mark "4294967296"/],
    ['no service at all', '-A -s rr', /no -t\/-u\/--sctp-service\/-f service/],
    ['service name instead of address', '-A -t web.example:http -s rr', /bad service address "web\.example:http"/],
    ['not a rule', 'Flush', /not an ipvsadm -A\/-a rule: Flush/],
    ['control characters are escaped', '-A -t 192.0.2.11:80\x1b[31m -s rr', /bad service address "192\.0\.2\.11:80\\x1b\[31m"/],
  ];
  for (const [what, line, want] of table) {
    test(what, () => {
      const t = parseIpvsadmSave(['-A -t 192.0.2.10:80 -s rr', '-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1', line, ''].join('\n'));
      assert.equal(t.malformed.length, 1, `${what}: ${JSON.stringify(t)}`);
      assert.match(t.malformed[0]!, /^line 3: /);
      assert.match(t.malformed[0]!, want);
      assert.doesNotMatch(t.malformed[0]!, /[\x00-\x1f\x7f]/);
    });
  }

  test('unknown options and a forwarding method twice are warnings only', () => {
    const t = parseIpvsadmSave('-A -t 192.0.2.10:80 -s rr --frob\n-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -m -w 2147483647\n');
    assert.deepEqual(t.malformed, []);
    assert.equal(t.warnings.length, 2);
    assert.equal(t.services[0]!.reals[0]!.weight, 2147483647);
  });
});

describe('assertReadable', () => {
  const clean = parseProcIpVs(fixture('mixed', 'proc'));
  test('a clean table passes', () => assert.doesNotThrow(() => assertReadable(clean, '/proc/net/ip_vs')));

  test('a malformed line makes the table unreadable: VIP_E_IPVS_UNREADABLE, exit 1, naming the source and the line', () => {
    const t = parseProcIpVs(procWith('  -> C6336402:0050      Route   1'));
    assert.throws(
      () => assertReadable(t, '/proc/net/ip_vs'),
      (e: unknown) => {
        assert.ok(e instanceof VipError);
        assert.equal(e.code, 'VIP_E_IPVS_UNREADABLE');
        assert.equal(e.exit, 1);
        assert.match(e.message, /^cannot read IPVS from \/proc\/net\/ip_vs: 1 malformed line \(line 6: a real server line has 6 columns, this one 4: .*\): .*nothing changes/);
        assert.deepEqual(e.details.malformed, t.malformed);
        return true;
      },
    );
  });

  test('at most three lines are listed, with how many more', () => {
    const t = parseProcIpVs(procWith('x', 'y', 'z', 'w', 'v'));
    assert.equal(t.malformed.length, 5);
    assert.throws(() => assertReadable(t, 'ipvsadm -S -n'), (e: unknown) => {
      assert.ok(e instanceof VipError);
      assert.match(e.message, /5 malformed lines \(line 6: .*; line 7: .*; line 8: [^;]*; and 2 more\)/);
      assert.doesNotMatch(e.message, /line 9/);
      assert.equal((e.details.malformed as string[]).length, 3);
      assert.equal(e.details.count, 5);
      return true;
    });
  });
});

describe('live real servers per VIP', () => {
  test('weight 0 does not count; a VIP is as live as its weakest port and protocol', () => {
    const live = liveCounts(proc('mixed'), ['192.0.2.10'], NONE);
    // tcp/80: .1 and .2 (.3 has weight 0); tcp/443: .1 and .2; udp/53: .1 only (.2 has weight 0).
    assert.deepEqual(live.get('192.0.2.10'), { live: 1, services: 3 });
  });

  test('a VIP without any virtual service has live 0 and services 0', () => {
    assert.deepEqual(liveCounts(proc('mixed'), ['192.0.2.99'], NONE).get('192.0.2.99'), { live: 0, services: 0 });
    assert.deepEqual(liveCounts(proc('empty'), ['192.0.2.10'], NONE).get('192.0.2.10'), { live: 0, services: 0 });
  });

  test('a service with no real servers makes its VIP dead, whatever the other ports say', () => {
    // 192.0.2.30: tcp/80 has no real servers, sctp/3868 and tcp/8080 have one each.
    assert.deepEqual(liveCounts(proc('mixed'), ['192.0.2.30'], NONE).get('192.0.2.30'), { live: 0, services: 3 });
  });

  test('excluded real servers never count: by address, or by address and port', () => {
    const t = proc('mixed');
    const any = liveCounts(t, ['192.0.2.10'], { fwmarks: {}, exclude: [{ address: '198.51.100.1', port: null }] });
    assert.deepEqual(any.get('192.0.2.10'), { live: 0, services: 3 }, 'udp/53 is left with nothing');
    const port80 = liveCounts(t, ['192.0.2.10'], { fwmarks: {}, exclude: [{ address: '198.51.100.2', port: 80 }] });
    assert.deepEqual(port80.get('192.0.2.10'), { live: 1, services: 3 }, 'tcp/80 keeps .1, udp/53 keeps .1');
    const port443 = liveCounts(t, ['192.0.2.10'], { fwmarks: {}, exclude: [{ address: '198.51.100.1', port: 443 }] });
    assert.deepEqual(port443.get('192.0.2.10'), { live: 1, services: 3 });

    // keepalived's sorry_server is the only real server left behind 192.0.2.20:80.
    const k = proc('keepalived');
    assert.deepEqual(liveCounts(k, ['192.0.2.20'], NONE).get('192.0.2.20'), { live: 1, services: 1 });
    const sorry = { fwmarks: {}, exclude: [{ address: '198.51.100.1', port: 80 }] };
    assert.deepEqual(liveCounts(k, ['192.0.2.20'], sorry).get('192.0.2.20'), { live: 0, services: 1 });
  });

  test('firewall-mark services count for the VIPs mapped to them, and only those', () => {
    const t = proc('mixed');
    const mapped = liveCounts(t, ['192.0.2.10', '192.0.2.77', '192.0.2.20'], {
      fwmarks: { '7': ['192.0.2.10', '192.0.2.77'] },
      exclude: [{ address: '198.51.100.4', port: null }],
    });
    assert.deepEqual(mapped.get('192.0.2.10'), { live: 1, services: 4 });
    assert.deepEqual(mapped.get('192.0.2.77'), { live: 1, services: 1 }, 'a VIP served by a firewall mark only');
    assert.deepEqual(mapped.get('192.0.2.20'), { live: 1, services: 2 }, 'not mapped: fwm 7 is not its service');
    // IPv6: the fwm 8 service (one real server) becomes the weakest of 2001:db8::10.
    assert.deepEqual(liveCounts(t, ['2001:db8::10'], NONE).get('2001:db8::10'), { live: 3, services: 1 });
    const v6 = liveCounts(t, ['2001:db8::10'], { fwmarks: { '8': ['2001:DB8::0010'] }, exclude: [] });
    assert.deepEqual(v6.get('2001:db8::10'), { live: 1, services: 2 });
  });

  test('VIPs are compared canonically; the result is keyed by the canonical address', () => {
    const live = liveCounts(proc('mixed'), ['2001:DB8:0:0::10', '192.0.2.10/32'], {
      fwmarks: {},
      exclude: [{ address: '2001:db8:1:0::1', port: 80 }],
    });
    assert.deepEqual([...live.keys()], ['2001:db8::10', '192.0.2.10']);
    assert.deepEqual(live.get('2001:db8::10'), { live: 2, services: 1 });
    assert.throws(() => liveCounts(proc('mixed'), ['service.tld'], NONE), /not an IP address/);
    assert.throws(() => liveCounts(proc('mixed'), ['192.0.2.0/24'], NONE), /not a host prefix/);
  });

  test('both formats count the same', () => {
    const opts = { fwmarks: { '7': ['192.0.2.10'], '8': ['2001:db8::10'] }, exclude: [{ address: '198.51.100.1', port: 80 }] };
    const vips = ['192.0.2.10', '192.0.2.20', '192.0.2.30', '2001:db8::10', '192.0.2.99'];
    for (const name of CAPTURES) assert.deepEqual(liveCounts(proc(name), vips, opts), liveCounts(save(name), vips, opts), name);
  });

  test('ipvsVips lists every address VIP once, IPv4 first', () => {
    assert.deepEqual(ipvsVips(proc('mixed')), ['192.0.2.10', '192.0.2.20', '192.0.2.30', '2001:db8::10']);
    assert.deepEqual(ipvsVips(proc('keepalived')), ['192.0.2.10', '192.0.2.20']);
    assert.deepEqual(ipvsVips(proc('empty')), []);
  });

  test('10,000 services x 8 real servers parse and count well inside a watchdog cycle', () => {
    const text = formatProcIpVs(benchTable());
    const t0 = performance.now();
    const t = parseProcIpVs(text);
    const vips = ipvsVips(t);
    const live = liveCounts(t, vips, NONE);
    const ms = performance.now() - t0;
    assert.equal(t.services.length, 10_000);
    assert.equal(live.size, vips.length);
    assert.ok(ms < 10_000, `took ${Math.round(ms)} ms`);
  });
});

describe('reader adapter', () => {
  const unreadable = (re: RegExp) => (e: unknown) => {
    assert.ok(isVipError(e), String(e));
    assert.equal(e.code, 'VIP_E_IPVS_UNREADABLE');
    assert.equal(e.exit, 1);
    assert.match(e.message, re);
    return true;
  };

  test('proc: reads and parses the file, in the kernel\'s order (the same table once sorted)', async () => {
    const r = createIpvsReader({ source: 'proc', path: join(FIXTURES, 'mixed.proc') });
    const read = await r.read();
    assert.deepEqual(sortTable(read), proc('mixed'));
    assert.deepEqual(JSON.parse(JSON.stringify(read)), JSON.parse(JSON.stringify(parseProcIpVs(fixture('mixed', 'proc'), { sort: false }))));
    assert.notDeepEqual(read.services, proc('mixed').services, 'the capture is not in canonical order: this test would not see a sort');
    const vips = ipvsVips(read);
    assert.deepEqual(liveCounts(read, vips, NONE), liveCounts(proc('mixed'), vips, NONE));
  });

  test('proc: a missing file says the module may not be loaded', async () => {
    const r = createIpvsReader({ source: 'proc', path: '/nonexistent/ip_vs' });
    await assert.rejects(r.read(), unreadable(/\/nonexistent\/ip_vs.*is the ip_vs module loaded\?/));
  });

  test('proc: a file that is not an IPVS table is an error, not an empty table', async () => {
    const r = createIpvsReader({ source: 'proc', path: join(FIXTURES, 'mixed.save') });
    await assert.rejects(r.read(), unreadable(/does not start with "IP Virtual Server version"/));
  });

  test('ipvsadm: runs `ipvsadm -S -n` (argv, no shell) and parses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vip-ipvs-'));
    try {
      // A stand-in for ipvsadm: records its argv and prints a real capture.
      const bin = join(dir, 'ipvsadm');
      await writeFile(bin, `#!/bin/sh\nprintf '%s\\n' "$@" > '${dir}/argv'\ncat '${join(FIXTURES, 'keepalived.save')}'\n`);
      await chmod(bin, 0o755);
      const r = createIpvsReader({ source: 'ipvsadm', ipvsadm: bin });
      assert.equal(r.source, `${bin} -S -n`);
      assert.deepEqual(await r.read(), save('keepalived'));
      assert.equal(await readFile(join(dir, 'argv'), 'utf8'), '-S\n-n\n');

      await writeFile(bin, `#!/bin/sh\necho "Can't initialize ipvs: Protocol not available" >&2\nexit 1\n`);
      await assert.rejects(r.read(), unreadable(/is the ip_vs module loaded\?/));

      await writeFile(bin, `#!/bin/sh\nexec sleep 5\n`);
      const slow = createIpvsReader({ source: 'ipvsadm', ipvsadm: bin, timeoutMs: 200 });
      await assert.rejects(slow.read(), unreadable(/no answer within 200 ms/));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('ipvsadm: a missing program is named', async () => {
    const r = createIpvsReader({ source: 'ipvsadm', ipvsadm: '/nonexistent/ipvsadm' });
    await assert.rejects(r.read(), unreadable(/\/nonexistent\/ipvsadm not found/));
  });

  test('proc: a FIFO at the path is refused at once (it used to hang in open())', { timeout: 5000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'vip-ipvs-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'ip_vs');
    execFileSync('mkfifo', [fifo]);
    const r = createIpvsReader({ source: 'proc', path: fifo, timeoutMs: 10_000 });
    const t0 = performance.now();
    await assert.rejects(r.read(), unreadable(/ip_vs: it is not a regular file \(a FIFO\)/));
    assert.ok(performance.now() - t0 < 3000, `refused before its 10 s timeout: took ${Math.round(performance.now() - t0)} ms`);
    await assert.rejects(createIpvsReader({ source: 'proc', path: dir }).read(), unreadable(/not a regular file \(a directory\)/));
    await assert.rejects(createIpvsReader({ source: 'proc', path: '/dev/null' }).read(), unreadable(/not a regular file \(a device\)/));
  });

  test('proc: a table cut mid-line or with a malformed line is unreadable, not "no real servers"', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'vip-ipvs-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'ip_vs');
    const whole = fixture('mixed', 'proc');
    await writeFile(path, whole.slice(0, whole.indexOf('Route') + 3)); // a short read, mid-line
    await assert.rejects(createIpvsReader({ source: 'proc', path }).read(), unreadable(/malformed line \(line \d+: cut short/));
    await writeFile(path, procWith(`  -> C6336402:0050      Route   ${'9'.repeat(400)}      0          0`));
    await assert.rejects(createIpvsReader({ source: 'proc', path }).read(), unreadable(/weight "9+.*" is not an integer/));
  });

  test('ipvsadm: a malformed line in its output is unreadable too', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'vip-ipvs-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const bin = join(dir, 'ipvsadm');
    await writeFile(bin, `#!/bin/sh\necho '-A -t 192.0.2.10:80 -s rr'\necho '-a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w'\n`);
    await chmod(bin, 0o755);
    await assert.rejects(createIpvsReader({ source: 'ipvsadm', ipvsadm: bin }).read(), unreadable(new RegExp(`from ${bin} -S -n: 1 malformed line \\(line 2: -w without a value`)));
  });

  test('readRegularFile reads until EOF: files whose stat size is 0 (/proc) and files of many chunks', async (t) => {
    const status = await readRegularFile('/proc/self/status', 5000);
    assert.match(status, /^Name:/m, 'a /proc file (stat size 0) is read whole');
    const dir = await mkdtemp(join(tmpdir(), 'vip-ipvs-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const text = formatProcIpVs(benchTable({ services: 2000, reals: 4, seed: 3 }));
    assert.ok(text.length > 4 * 65536);
    await writeFile(join(dir, 'big'), text);
    assert.equal(await readRegularFile(join(dir, 'big'), 5000), text);
    const r = await createIpvsReader({ source: 'proc', path: join(dir, 'big') }).read();
    assert.equal(r.services.length, 2000);
  });
});

test('expandedV6ToCanonical agrees with the general parser (RFC 5952) on every zero-run shape', async () => {
  const { expandedV6ToCanonical } = await import('../../src/core/ipvs.ts');
  const { parseAddress } = await import('../../src/core/prefix.ts');
  const assertEq = (await import('node:assert/strict')).default.equal;
  let n = 0;
  // every pattern of zero / non-zero groups (256), with small and large values, plus edge cases
  for (let mask = 0; mask < 256; mask++) {
    for (const v of [1, 0xabcd, 0x10]) {
      const groups = Array.from({ length: 8 }, (_, i) => (mask & (1 << i) ? v + i : 0));
      const expanded = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
      const fast = expandedV6ToCanonical(expanded);
      const slow = parseAddress(expanded);
      // IPv4-mapped addresses stay IPv6 in prefix.ts now (issue 9), so they take the fast path too
      assertEq(fast, slow!.address, expanded);
      n++;
    }
  }
  assertEq(expandedV6ToCanonical('2001:0DB8:0000:0000:0000:0000:0000:0010'), '2001:db8::10');
  assertEq(expandedV6ToCanonical('0000:0000:0000:0000:0000:ffff:c000:0201'), '::ffff:c000:201', 'IPv4-mapped stays IPv6');
  assertEq(expandedV6ToCanonical('2001:db8::10'), null, 'not the kernel form');
  assertEq(n > 700, true);
});

test('scanRealLine (the in-place reader of real server lines) gives what words + procReal give, or leaves the line to them', async () => {
  const { scanRealLine, readRealLineSlowly, procCanon } = await import('../../src/core/ipvs.ts');
  const addrs = ['C0000201', 'c0000201', 'C00002', 'C0000201FF', '[2001:0db8:0000:0000:0000:0000:0000:0010]', '[2001:0DB8:0000:0000:0000:0000:0000:0010]', '[2001:db8::10]', 'ZZZZZZZZ'];
  const ports = ['0050', '50', '01BB', 'zz50', '00500'];
  const fwds = ['Route', 'Masq', 'Tunnel', 'Local', 'route', 'Routed', 'Foo', '1x'];
  const nums = ['1', '100', '0', '-1', '-0', '007', '2147483647', '2147483648', '-2147483648', '-2147483649', '99999999999', '000000000001', 'x', ''];
  const gaps = [' ', '  ', '\t', ' \t ', '', '\u00a0'];
  const rnd = seeded(7);
  // the first two entries of each list are good ones: picked most of the time
  const pick = <T>(xs: T[]): T => (rnd(10) < 8 ? xs[rnd(2)]! : xs[rnd(xs.length)]!);
  let fast = 0;
  for (let i = 0; i < 30_000; i++) {
    const line = `${pick(['  ', '', ' \t'])}${pick(['->', '-> ', '=>'])}${pick(gaps)}${pick(addrs)}:${pick(ports)}${pick(gaps)}${pick(fwds)}${pick(gaps)}${pick(nums)}${pick(gaps)}${pick(nums)}${pick(gaps)}${pick(nums)}${pick(['', ' ', '  \t', ' 5', '\r'])}`;
    const got = scanRealLine(line, 0, line.length, procCanon());
    if (got === null) continue;
    fast++;
    assert.deepEqual(got, readRealLineSlowly(line), JSON.stringify(line));
  }
  assert.ok(fast > 1000, `the generator reaches the fast path (${fast})`);
});

test('the common service line regex accepts only lines procService reads the same way, without a warning', async () => {
  const { readServiceLineBothWays } = await import('../../src/core/ipvs.ts');
  const protos = ['TCP', 'UDP', 'SCTP', 'tcp', 'FWM', 'ICMP', 'TCPX'];
  const addrs = ['C000020A', 'c000020a', 'C00002', '[2001:0db8:0000:0000:0000:0000:0000:0010]', '[2001:db8::10]', '[2001:0db8:0000:0000:0000:0000:0000:001]', 'ZZZZZZZZ'];
  const ports = ['0050', '01BB', '50', 'zz50', '00500'];
  const scheds = ['rr', 'wlc', 'mh', 'lblcr', 'x_y-1', ''];
  const tails = ['', ' ', '  ', ' ops', ' ops ', ' persistent 75000 FFFFFFFF', ' ops persistent 75000 00000080', ' persistent 1 FFFFFFFF', ' persistent 75000 FFFF', ' persistent 4294967250 FFFFFFFF', ' persistent 75000 FFFFFFFF ops', ' lo', '\r', ' \u00a0'];
  const marks = ['00000007', '7', '0000000A', 'ffffffff', '123456789', 'g1'];
  const gaps = [' ', '  ', '\t', ''];
  const rnd = seeded(5);
  const pick = <T>(xs: T[]): T => (rnd(10) < 7 ? xs[rnd(2)]! : xs[rnd(xs.length)]!);
  let common = 0;
  let general = 0;
  let persistent = 0;
  let ops = 0;
  const kinds = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const service = rnd(4) === 0 ? `FWM${pick(gaps)}${pick(marks)}` : `${pick(protos)}${pick(gaps)}${pick(addrs)}:${pick(ports)}`;
    const line = `${pick(['', '', ' '])}${service}${pick(gaps)}${pick(scheds)}${pick(tails)}`;
    const r = readServiceLineBothWays(line);
    if (r.general && r.warnings.length === 0) general++;
    if (r.common === null) continue;
    common++;
    kinds.add(r.common.kind);
    if (r.common.persistent !== null) persistent++;
    if (r.common.flags.length > 0) ops++;
    assert.deepEqual(r.common, r.general, JSON.stringify(line));
    assert.deepEqual([r.warnings, r.malformed], [[], []], JSON.stringify(line));
  }
  assert.ok(common > 1000 && general > common, `the generator reaches both paths (${common} common of ${general} read cleanly)`);
  assert.ok(kinds.has('fwm') && kinds.has('tcp') && persistent > 100 && ops > 100, `and the service kinds and options (${[...kinds]}, ${persistent} persistent, ${ops} ops)`);
});

test('the common-line regexes accept only lines scanRealLine reads, and tell a positive weight from the rest', async () => {
  const { scanRealLine, readRealLineSlowly, procCanon, POSITIVE_REAL, OTHER_REAL, parseProcIpVs, positiveWeights } = await import('../../src/core/ipvs.ts');
  const addrs = ['C0000201', 'c0000201', 'C00002', '[2001:0db8:0000:0000:0000:0000:0000:0010]', '[2001:0DB8:0000:0000:0000:0000:0000:0010]', '[2001:db8::10]', '[2001:0db8:0000:0000:0000:0000:0000:001]', 'ZZZZZZZZ'];
  const ports = ['0050', '01BB', '50', 'zz50'];
  const fwds = ['Route', 'Masq', 'Tunnel', 'Local', 'Routed', 'route'];
  const nums = ['1', '100', '0', '-1', '-0', '007', '00', '999999999', '2147483647', '2147483648', '-2147483649', 'x'];
  const gaps = [' ', '      ', '\t', ''];
  const rnd = seeded(11);
  const pick = <T>(xs: T[]): T => (rnd(10) < 7 ? xs[rnd(2)]! : xs[rnd(xs.length)]!);
  const whole = (re: RegExp, line: string) => {
    re.lastIndex = 0;
    return re.test(line) && re.lastIndex === line.length;
  };
  let common = 0;
  let zero = 0;
  const lines: string[] = [];
  for (let i = 0; i < 30_000; i++) {
    const line = `${pick(['  ', ' \t', ''])}${pick(['->', '=>'])}${pick(gaps)}${pick(addrs)}:${pick(ports)}${pick(gaps)}${pick(fwds)}${pick(gaps)}${pick(nums)}${pick(gaps)}${pick(nums)}${pick(gaps)}${pick(nums)}${pick(['', ' ', '\r'])}\n`;
    const pos = whole(POSITIVE_REAL, line);
    const other = whole(OTHER_REAL, line);
    if (!pos && !other) continue;
    assert.ok(!(pos && other), JSON.stringify(line));
    const got = scanRealLine(line, 0, line.length - 1, procCanon());
    assert.ok(got !== null, `accepted but not read: ${JSON.stringify(line)}`);
    assert.deepEqual(got, readRealLineSlowly(line.slice(0, -1)), JSON.stringify(line));
    assert.equal(got.weight > 0, pos, JSON.stringify(line));
    common++;
    if (other) zero++;
    lines.push(line);
  }
  assert.ok(common > 1000 && zero > 100, `the generator reaches both (${common}, ${zero} not positive)`);
  // and in a table: the same reals, counted without being read, as a table of objects counts them
  const text = `IP Virtual Server version 1.2.1 (size=4096)\nTCP  C000020A:0050 rr\n${lines.join('')}`;
  const kernelOrder = parseProcIpVs(text, { sort: false });
  assert.deepEqual(kernelOrder.malformed, []);
  const svc = kernelOrder.services[0]!;
  assert.equal(positiveWeights(svc), lines.filter((l) => whole(POSITIVE_REAL, l)).length);
  assert.equal(positiveWeights({ ...svc, reals: svc.reals }), positiveWeights(svc));
  assert.deepEqual(svc.reals, lines.map((l) => scanRealLine(l, 0, l.length - 1, procCanon())));
});
