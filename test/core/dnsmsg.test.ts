// Unit tests: DNS query building, response checks (spoof guard), CNAME following, outcome joining, resolv.conf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import {
  buildQuery,
  checkResponse,
  classifyRcode,
  followChain,
  isValidName,
  type DnsRecord,
} from '../../src/core/dnsmsg.ts';
import { combineFamilies, failureError, summariseTries, type FamilyOutcome } from '../../src/core/dnsresult.ts';
import { parseResolvConf, resolverSettings } from '../../src/core/dnsconf.ts';
import { VipError } from '../../src/core/errors.ts';

type Ans = dnsPacket.Answer;
const A = (name: string, data: string, ttl = 60): Ans => ({ type: 'A', name, data, ttl, class: 'IN' });
const AAAA = (name: string, data: string, ttl = 60): Ans => ({ type: 'AAAA', name, data, ttl, class: 'IN' });
const CNAME = (name: string, data: string, ttl = 60): Ans => ({ type: 'CNAME', name, data, ttl, class: 'IN' });

function response(
  id: number,
  q: { name: string; type: 'A' | 'AAAA'; class?: 'IN' | 'CH' },
  answers: Ans[] = [],
  opts: { rcode?: number; tc?: boolean; additionals?: Ans[]; questions?: dnsPacket.Question[] } = {},
): Buffer {
  const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (opts.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) | (opts.rcode ?? 0);
  return dnsPacket.encode({
    type: 'response',
    id,
    flags,
    questions: opts.questions ?? [{ name: q.name, type: q.type, class: q.class ?? 'IN' }],
    answers,
    additionals: opts.additionals ?? [],
  });
}

const expectA = { id: 4711, name: 'svc.lab.test', type: 'A' as const };
const rec = (name: string, type: DnsRecord['type'], data: string, ttl = 60): DnsRecord => ({ name, type, data, ttl });

test('a query asks one question, recursion desired, with the id it was given', () => {
  const q = dnsPacket.decode(buildQuery('Svc.Lab.Test.', 'AAAA', 0xbeef));
  assert.equal(q.id, 0xbeef);
  assert.equal(q.flag_qr, false);
  assert.equal(q.flag_rd, true);
  assert.deepEqual(q.questions, [{ name: 'svc.lab.test', type: 'AAAA', class: 'IN' }]);
  assert.throws(() => buildQuery('svc.lab.test', 'A', 0x10000), RangeError);
  assert.throws(() => buildQuery('svc.lab.test', 'A', -1), RangeError);
});

test('names that cannot go on the wire are refused before any query', () => {
  assert.ok(isValidName('svc.lab.test.'));
  assert.ok(isValidName('_dmarc.x-1.test'));
  assert.ok(!isValidName('a..b'), 'an empty label would end the name early on the wire');
  assert.ok(!isValidName(''));
  assert.ok(!isValidName(`${'x'.repeat(64)}.test`));
  assert.ok(!isValidName('svc lab.test'));
});

test('the matching answer is accepted, with the question name compared case-insensitively', () => {
  const r = checkResponse(response(4711, { name: 'SVC.Lab.Test', type: 'A' }, [A('SVC.Lab.Test', '192.0.2.1')]), expectA);
  assert.equal(r.kind, 'answer');
  assert.ok(r.kind === 'answer');
  assert.equal(r.outcome, 'noerror');
  assert.deepEqual(r.records, [rec('svc.lab.test', 'A', '192.0.2.1')]);
});

test('a wrong id, question, type or class is ignored (keep waiting), never taken as the answer', () => {
  const good = [A('svc.lab.test', '192.0.2.1')];
  const cases: [string, Buffer][] = [
    ['wrong id', response(4712, { name: 'svc.lab.test', type: 'A' }, good)],
    ['wrong name', response(4711, { name: 'evil.lab.test', type: 'A' }, good)],
    ['wrong type', response(4711, { name: 'svc.lab.test', type: 'AAAA' }, good)],
    ['wrong class', response(4711, { name: 'svc.lab.test', type: 'A', class: 'CH' }, good)],
    [
      'two questions',
      response(4711, { name: 'svc.lab.test', type: 'A' }, good, {
        questions: [
          { name: 'svc.lab.test', type: 'A', class: 'IN' },
          { name: 'x.lab.test', type: 'A', class: 'IN' },
        ],
      }),
    ],
    ['no question', response(4711, { name: 'svc.lab.test', type: 'A' }, good, { questions: [] })],
    ['a query, not a response', buildQuery('svc.lab.test', 'A', 4711)],
  ];
  for (const [why, buf] of cases) assert.equal(checkResponse(buf, expectA).kind, 'ignore', why);
});

test('a malformed packet is ignored, never thrown', () => {
  const good = response(4711, { name: 'svc.lab.test', type: 'A' }, [A('svc.lab.test', '192.0.2.1')]);
  // cut inside the A record's data: dns-packet itself decodes this as "192.0.2.undefined"
  const cut = good.subarray(0, good.length - 1);
  const loopPointer = Buffer.from(good);
  loopPointer.writeUInt16BE(0xc000 | 12, 12); // question name pointing at itself
  for (const buf of [Buffer.alloc(0), Buffer.from([0x12, 0x67, 0x81]), cut, loopPointer, Buffer.alloc(40, 0xff)]) {
    const r = checkResponse(buf, expectA);
    assert.equal(r.kind, 'ignore');
  }
});

test('TC asks for a retry over TCP, whatever the partial answer holds', () => {
  const r = checkResponse(response(4711, { name: 'svc.lab.test', type: 'A' }, [A('svc.lab.test', '192.0.2.1')], { tc: true }), expectA);
  assert.deepEqual(r, { kind: 'truncated' });
  // but only once the id and question match: a forged TC must not pull us to TCP
  assert.equal(checkResponse(response(1, { name: 'svc.lab.test', type: 'A' }, [], { tc: true }), expectA).kind, 'ignore');
});

test('rcodes are classified: NXDOMAIN final, SERVFAIL/REFUSED per server, others unusable', () => {
  assert.equal(classifyRcode(0), 'noerror');
  assert.equal(classifyRcode(3), 'nxdomain');
  assert.equal(classifyRcode(2), 'servfail');
  assert.equal(classifyRcode(5), 'refused');
  assert.equal(classifyRcode(1), 'bad');
  assert.equal(classifyRcode(4), 'bad');
  const r = checkResponse(response(4711, { name: 'svc.lab.test', type: 'A' }, [], { rcode: 3 }), expectA);
  assert.ok(r.kind === 'answer');
  assert.equal(r.rcodeName, 'NXDOMAIN');
  assert.equal(r.outcome, 'nxdomain');
  const s = checkResponse(response(4711, { name: 'svc.lab.test', type: 'A' }, [], { rcode: 2 }), expectA);
  assert.ok(s.kind === 'answer' && s.outcome === 'servfail');
});

test('only the answer section is read; addresses canonical; a negative TTL reads as 0', () => {
  const r = checkResponse(
    response(4711, { name: 'svc.lab.test', type: 'A' }, [AAAA('svc.lab.test', '2001:DB8:0:0::1'), A('svc.lab.test', '192.0.2.1', 0x80000000)], {
      additionals: [A('svc.lab.test', '203.0.113.66')],
    }),
    expectA,
  );
  assert.ok(r.kind === 'answer');
  assert.deepEqual(r.records, [rec('svc.lab.test', 'AAAA', '2001:db8::1'), rec('svc.lab.test', 'A', '192.0.2.1', 0)]);
});

test('a CNAME chain given in one answer is followed to its addresses, sorted, with the smallest TTL', () => {
  const records = [
    rec('a.lab.test', 'CNAME', 'b.lab.test', 300),
    rec('b.lab.test', 'CNAME', 'c.lab.test', 120),
    rec('c.lab.test', 'A', '192.0.2.10', 600),
    rec('c.lab.test', 'A', '192.0.2.9', 900),
    rec('c.lab.test', 'A', '192.0.2.9', 900),
  ];
  assert.deepEqual(followChain('A.lab.test.', records, 'A', new Set(['a.lab.test'])), {
    kind: 'done',
    chain: ['b.lab.test', 'c.lab.test'],
    addresses: ['192.0.2.9', '192.0.2.10'],
    ttl: 120,
  });
});

test('a CNAME target is never returned as an address (the dig +short bug)', () => {
  // `dig +short a.lab.test A` prints "b.lab.test" and "192.0.2.1": only the latter is an address.
  const r = followChain('a.lab.test', [rec('a.lab.test', 'CNAME', 'b.lab.test'), rec('b.lab.test', 'A', '192.0.2.1')], 'A', new Set(['a.lab.test']));
  assert.ok(r.kind === 'done');
  assert.deepEqual(r.addresses, ['192.0.2.1']);
  // a target that looks like an address is still a name to ask for, not an address
  const odd = followChain('a.lab.test', [rec('a.lab.test', 'CNAME', '192.0.2.7')], 'A', new Set(['a.lab.test']));
  assert.deepEqual(odd, { kind: 'next', chain: ['192.0.2.7'], name: '192.0.2.7' });
});

test('records off the chain are ignored (no poisoning through unrelated names)', () => {
  const r = followChain(
    'a.lab.test',
    [rec('x.lab.test', 'A', '203.0.113.66'), rec('a.lab.test', 'CNAME', 'b.lab.test'), rec('b.lab.test', 'A', '192.0.2.1'), rec('a.lab.test', 'AAAA', '2001:db8::66')],
    'A',
    new Set(['a.lab.test']),
  );
  assert.ok(r.kind === 'done');
  assert.deepEqual(r.addresses, ['192.0.2.1']);
});

test('a chain that leaves the answer names the next query; across answers it completes', () => {
  const first = [rec('a.lab.test', 'CNAME', 'b.lab.test', 300)];
  assert.deepEqual(followChain('a.lab.test', first, 'AAAA', new Set(['a.lab.test'])), {
    kind: 'next',
    chain: ['b.lab.test'],
    name: 'b.lab.test',
  });
  const second = [...first, rec('b.lab.test', 'CNAME', 'c.lab.test', 200), rec('c.lab.test', 'AAAA', '2001:db8::c', 100)];
  assert.deepEqual(followChain('a.lab.test', second, 'AAAA', new Set(['a.lab.test', 'b.lab.test'])), {
    kind: 'done',
    chain: ['b.lab.test', 'c.lab.test'],
    addresses: ['2001:db8::c'],
    ttl: 100,
  });
  // once the end of the chain was asked and had nothing, that is NODATA, not another query
  assert.deepEqual(followChain('a.lab.test', first, 'AAAA', new Set(['a.lab.test', 'b.lab.test'])), {
    kind: 'done',
    chain: ['b.lab.test'],
    addresses: [],
    ttl: 300,
  });
  assert.deepEqual(followChain('a.lab.test', [], 'A', new Set()), { kind: 'next', chain: [], name: 'a.lab.test' });
});

test('CNAME loops are detected, in one answer or back to the asked name', () => {
  const loop = [rec('a.lab.test', 'CNAME', 'b.lab.test'), rec('b.lab.test', 'CNAME', 'c.lab.test'), rec('c.lab.test', 'CNAME', 'b.lab.test')];
  assert.deepEqual(followChain('a.lab.test', loop, 'A', new Set(['a.lab.test'])), { kind: 'loop', chain: ['b.lab.test', 'c.lab.test', 'b.lab.test'] });
  const self = [rec('a.lab.test', 'CNAME', 'a.lab.test')];
  assert.equal(followChain('a.lab.test', self, 'A', new Set(['a.lab.test'])).kind, 'loop');
});

test('a chain deeper than the limit stops; one at the limit resolves', () => {
  const chainOf = (hops: number): DnsRecord[] => {
    const r: DnsRecord[] = [];
    for (let i = 0; i < hops; i++) r.push(rec(`d${i}.lab.test`, 'CNAME', `d${i + 1}.lab.test`));
    r.push(rec(`d${hops}.lab.test`, 'A', '192.0.2.8'));
    return r;
  };
  const ok = followChain('d0.lab.test', chainOf(8), 'A', new Set(['d0.lab.test']));
  assert.equal(ok.kind, 'done');
  const deep = followChain('d0.lab.test', chainOf(9), 'A', new Set(['d0.lab.test']));
  assert.equal(deep.kind, 'depth');
  assert.equal(deep.chain.length, 9);
  assert.equal(followChain('d0.lab.test', chainOf(3), 'A', new Set(['d0.lab.test']), 2).kind, 'depth');
});

test('two different CNAME targets for one name make the answer unusable', () => {
  const r = followChain('a.lab.test', [rec('a.lab.test', 'CNAME', 'b.lab.test'), rec('a.lab.test', 'CNAME', 'c.lab.test')], 'A', new Set(['a.lab.test']));
  assert.equal(r.kind, 'conflict');
});

const ctx = { attempts: 2, timeoutMs: 2000, source: 'dns.servers' };
const ok = (type: 'A' | 'AAAA', addresses: string[], ttl: number | null = 60, chain: string[] = []): FamilyOutcome => ({
  ok: true,
  type,
  chain,
  addresses,
  ttl,
  servers: ['127.0.0.1:5353'],
});
const fail = (type: 'A' | 'AAAA', failure: Extract<FamilyOutcome, { ok: false }>['failure'], at = 'svc.lab.test'): FamilyOutcome => ({
  ok: false,
  type,
  failure,
  chain: [],
  at,
  servers: ['127.0.0.1:5353'],
  detail: '',
});

test('A and AAAA join: NODATA or NXDOMAIN beside addresses is fine; v4 first; smallest TTL', () => {
  assert.deepEqual(combineFamilies('svc.lab.test', [ok('A', ['192.0.2.1'], 300), ok('AAAA', ['2001:db8::1'], 30)], ctx), {
    name: 'svc.lab.test',
    chain: [],
    addresses: ['192.0.2.1', '2001:db8::1'],
    ttl: 30,
  });
  const r = combineFamilies('svc.lab.test', [fail('A', 'nxdomain'), ok('AAAA', ['2001:db8::1'])], ctx);
  assert.ok(!(r instanceof VipError));
  assert.deepEqual(r.addresses, ['2001:db8::1']);
  const v4only = combineFamilies('svc.lab.test', [ok('A', ['192.0.2.1'], 60, ['c.lab.test']), ok('AAAA', [], 10, ['c.lab.test'])], ctx);
  assert.ok(!(v4only instanceof VipError));
  assert.deepEqual(v4only.chain, ['c.lab.test']);
  assert.equal(v4only.ttl, 10, 'the CNAME TTL seen by the NODATA family still bounds the cache');
});

test('any other failure fails the name even when the other family answered', () => {
  const r = combineFamilies('svc.lab.test', [ok('A', ['192.0.2.1']), fail('AAAA', 'servfail')], ctx);
  assert.ok(r instanceof VipError);
  assert.equal(r.code, 'VIP_E_DNS_SERVFAIL');
  assert.equal(r.exit, 4);
  const both = combineFamilies('svc.lab.test', [fail('A', 'timeout'), fail('AAAA', 'loop')], ctx);
  assert.ok(both instanceof VipError && both.code === 'VIP_E_DNS_CNAME_LOOP', 'the data problem is reported over the timeout');
});

test('no address anywhere: NXDOMAIN when the name does not exist, NO_ADDRESS when it does', () => {
  const nx = combineFamilies('svc.lab.test', [fail('A', 'nxdomain'), fail('AAAA', 'nxdomain')], ctx);
  assert.ok(nx instanceof VipError);
  assert.equal(nx.code, 'VIP_E_DNS_NXDOMAIN');
  assert.match(nx.message, /svc\.lab\.test does not exist .*127\.0\.0\.1:5353/);
  const none = combineFamilies('svc.lab.test', [ok('A', []), ok('AAAA', [])], ctx);
  assert.ok(none instanceof VipError);
  assert.equal(none.code, 'VIP_E_DNS_NO_ADDRESS');
  assert.match(none.message, /svc\.lab\.test has no A or AAAA record.*127\.0\.0\.1:5353/);
});

test('messages name the name, the servers asked and what to do next', () => {
  const t = failureError('svc.lab.test', fail('A', 'timeout') as Extract<FamilyOutcome, { ok: false }>, ctx);
  assert.equal(t.code, 'VIP_E_DNS_TIMEOUT');
  assert.match(t.message, /svc\.lab\.test.*after 2 attempts of 2000ms to 127\.0\.0\.1:5353.*is the DNS server up\? see dns\.servers/);
  const alias = failureError('a.lab.test', { ...(fail('A', 'nxdomain', 'missing.lab.test') as Extract<FamilyOutcome, { ok: false }>), chain: ['missing.lab.test'] }, ctx);
  assert.match(alias.message, /a\.lab\.test is an alias of missing\.lab\.test, which does not exist/);
  for (const f of ['servfail', 'refused', 'loop', 'depth', 'bad'] as const) {
    const e = failureError('svc.lab.test', fail('A', f) as Extract<FamilyOutcome, { ok: false }>, ctx);
    assert.match(e.message, /svc\.lab\.test/);
    assert.match(e.message, /127\.0\.0\.1:5353/);
    assert.match(e.message, /: [^:]+$/, `${f}: ends with what to do`);
  }
});

test('a server that answered SERVFAIL is reported over one that stayed silent', () => {
  const s = summariseTries([
    { server: '127.0.0.1:1', failure: 'timeout', detail: 'no answer' },
    { server: '127.0.0.1:2', failure: 'servfail', detail: 'SERVFAIL' },
    { server: '127.0.0.1:1', failure: 'timeout', detail: 'no answer' },
  ]);
  assert.equal(s.failure, 'servfail');
  assert.deepEqual(s.servers, ['127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(summariseTries([{ server: '127.0.0.1:1', failure: 'unreachable', detail: 'ENETUNREACH' }]).failure, 'timeout');
});

test('resolv.conf: nameservers (first three, canonical), comments, options with the last one winning', () => {
  const rc = parseResolvConf(
    [
      '# generated',
      'search lab.test',
      'nameserver 127.0.0.53 ; stub',
      'nameserver ::1',
      'nameserver not-an-address',
      'nameserver fe80::1%eth0',
      'nameserver 127.0.0.53',
      '  nameserver   0:0:0:0:0:0:0:2  ',
      'nameserver 127.0.0.9',
      'options timeout:1 attempts:9 rotate',
      'options timeout:3',
    ].join('\n'),
  );
  assert.deepEqual(rc.servers, [
    { host: '127.0.0.53', port: 53 },
    { host: '::1', port: 53 },
    { host: '::2', port: 53 },
  ]);
  assert.equal(rc.timeoutMs, 3000);
  assert.equal(rc.attempts, 5, 'capped as glibc does');
  assert.deepEqual(parseResolvConf('options timeout:0\n'), { servers: [], timeoutMs: 1000 });
  assert.deepEqual(parseResolvConf(''), { servers: [] });
});

test('configured servers win; without them resolv.conf gives servers and overrides timeout/attempts', () => {
  const rcText = 'nameserver 127.0.0.53\noptions timeout:5 attempts:3\n';
  const cfg = { servers: [{ host: '127.0.0.1', port: 5353 }], timeout: 2000, attempts: 2 };
  assert.deepEqual(resolverSettings(cfg, { path: '/etc/resolv.conf', text: rcText }), {
    servers: [{ host: '127.0.0.1', port: 5353 }],
    timeoutMs: 2000,
    attempts: 2,
    source: 'dns.servers',
  });
  const empty = { servers: [], timeout: 2000, attempts: 2 };
  assert.deepEqual(resolverSettings(empty, { path: '/etc/resolv.conf', text: rcText }), {
    servers: [{ host: '127.0.0.53', port: 53 }],
    timeoutMs: 5000,
    attempts: 3,
    source: '/etc/resolv.conf',
  });
  assert.deepEqual(resolverSettings(empty, { path: '/x/resolv.conf', text: 'nameserver 127.0.0.53\n' }).timeoutMs, 2000);
  assert.deepEqual(resolverSettings(empty, { path: '/x/resolv.conf', text: null }).servers, []);
});
