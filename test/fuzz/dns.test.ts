// Fuzz: DNS answers as the resolver takes them (src/adapters/dns.ts's loop on src/core/dnsmsg.ts and
// dnsresult.ts): judge each packet against the query, collect records, follow CNAMEs asking again for
// targets, join A and AAAA into one name or one VipError. The "server" is a generated zone whose answers
// are built with dns-packet and then mutated byte by byte (counts, lengths, compression pointers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { checkResponse, followChain, type AddressType, type DnsRecord } from '../../src/core/dnsmsg.ts';
import { combineFamilies, summariseTries, type FailedTry, type FamilyOutcome } from '../../src/core/dnsresult.ts';
import { VipError } from '../../src/core/errors.ts';
import { parseAddress } from '../../src/core/prefix.ts';
import { escapeLogText } from '../../src/adapters/log.ts';
import { applyByteMutation, byteMutationArb, fuzz, report } from './lib.ts';

const ID = 0x4711;
const SERVER = '127.0.0.1:53';
const CTX = { attempts: 1, timeoutMs: 100, source: 'dns.servers' };

/** Names the zone knows: valid ones (what the resolver asks first) and hostile CNAME targets. */
const ASKED = ['svc.lab.test', 'alias.lab.test', 'loop.lab.test', 'deep0.lab.test', 'Mixed.Case.Test'];
const HOSTILE = [
  'evil\n<0>Deleting route to 192.0.2.1/32.lab.test',
  '\x1b[31mred\x1b[0m.lab.test',
  'cr\rlf.lab.test',
  'nul\0byte.lab.test',
  'line\u2028sep.lab.test',
  'c1\u009bctl.lab.test',
  'dot\\.escaped.lab.test',
  'a'.repeat(63) + '.' + 'b'.repeat(63) + '.' + 'c'.repeat(63) + '.' + 'd'.repeat(61),
  'ünïcode.lab.test',
  '.',
  '',
];
const TARGETS = ['target.lab.test', 'deep1.lab.test', 'deep2.lab.test', 'deep3.lab.test', ...HOSTILE];
const POOL = [...ASKED, ...TARGETS];

const v4 = fc.oneof(fc.constantFrom('192.0.2.1', '192.0.2.2', '0.0.0.0', '255.255.255.255', '127.0.0.1'), fc.ipV4());
const v6 = fc.oneof(fc.constantFrom('2001:db8::1', '::ffff:192.0.2.7', '::', 'fe80::1', 'ff02::1'), fc.ipV6());
const ttl = fc.oneof(fc.constantFrom(0, 60, 0x7fffffff, 0x80000000, 0xffffffff), fc.nat());
const cls = fc.oneof({ weight: 8, arbitrary: fc.constant('IN' as const) }, { weight: 1, arbitrary: fc.constantFrom('CH' as const, 'HS' as const, 'ANY' as const) });

type Rec = dnsPacket.Answer;
const record: fc.Arbitrary<Rec> = fc.oneof(
  fc.record({ type: fc.constant('A' as const), name: fc.constantFrom(...POOL), ttl, class: cls, data: v4 }),
  fc.record({ type: fc.constant('AAAA' as const), name: fc.constantFrom(...POOL), ttl, class: cls, data: v6 }),
  fc.record({ type: fc.constant('CNAME' as const), name: fc.constantFrom(...POOL), ttl, class: cls, data: fc.constantFrom(...POOL) }),
  fc.record({ type: fc.constant('TXT' as const), name: fc.constantFrom(...POOL), ttl, class: cls, data: fc.string({ maxLength: 20 }) }),
  fc.record({ type: fc.constant('MX' as const), name: fc.constantFrom(...POOL), ttl, class: cls, data: fc.record({ preference: fc.nat(0xffff), exchange: fc.constantFrom(...POOL) }) }),
) as fc.Arbitrary<Rec>;

/** A CNAME chain from NAME through some of TARGETS to address records: the shape real answers have. */
const chain = (name: string): fc.Arbitrary<Rec[]> =>
  fc
    .tuple(fc.array(fc.constantFrom(...TARGETS), { maxLength: 10 }), fc.array(fc.oneof(v4, v6), { minLength: 0, maxLength: 3 }), ttl)
    .map(([hops, addrs, t]) => {
      const names = [name, ...hops];
      const out: Rec[] = [];
      for (let i = 1; i < names.length; i++) out.push({ type: 'CNAME', name: names[i - 1]!, ttl: t, class: 'IN', data: names[i]! });
      for (const a of addrs) out.push({ type: a.includes(':') ? 'AAAA' : 'A', name: names.at(-1)!, ttl: t, class: 'IN', data: a } as Rec);
      return out;
    });

/** How the zone's server answers one name (for A and AAAA alike): header, records, then byte damage. */
const answerSpec = (name: string) =>
  fc.record({
    rcode: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.constantFrom(2, 3, 5) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    tc: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    qr: fc.oneof({ weight: 15, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    opcode: fc.oneof({ weight: 15, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 15 }) }),
    idDelta: fc.oneof({ weight: 15, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xffff }) }),
    questions: fc.oneof({ weight: 12, arbitrary: fc.constant('ours' as const) }, { weight: 1, arbitrary: fc.constantFrom('none' as const, 'two' as const, 'other' as const) }),
    answers: fc.oneof(chain(name), fc.array(record, { maxLength: 8 }), fc.tuple(chain(name), fc.array(record, { maxLength: 3 })).map(([a, b]) => [...a, ...b])),
    authorities: fc.array(record, { maxLength: 2 }),
    damage: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.array(byteMutationArb(), { minLength: 1, maxLength: 4 }) }),
    // now and then the server sends bytes that were never a DNS message
    raw: fc.oneof({ weight: 20, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) }),
  });
type AnswerSpec = ReturnType<typeof answerSpec> extends fc.Arbitrary<infer T> ? T : never;

const scenario = fc
  .tuple(fc.constantFrom(...ASKED), fc.array(fc.constantFrom(...POOL), { maxLength: 5 }), fc.constantFrom('nxdomain' as const, 'nxdomain' as const, 'nxdomain' as const, 'silence' as const, 'servfail' as const))
  .chain(([asked, more, unknown]) => {
    const names = [...new Set([asked, ...more])];
    return fc.tuple(...names.map((n) => answerSpec(n))).map((specs) => ({ asked, unknown, zone: new Map(names.map((n, i) => [n.toLowerCase(), specs[i]!])) }));
  });
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** The packet the zone's server sends for QNAME/TYPE (null: it stays silent). */
function serve(s: Scenario, qname: string, type: AddressType, overTcp: boolean): Uint8Array | null {
  const spec: AnswerSpec | undefined = s.zone.get(qname.toLowerCase());
  if (!spec) {
    if (s.unknown === 'silence') return null;
    const rcode = s.unknown === 'nxdomain' ? 3 : 2;
    return dnsPacket.encode({ type: 'response', id: ID, flags: dnsPacket.RECURSION_DESIRED | rcode, questions: [{ type, name: qname, class: 'IN' }] });
  }
  if (spec.raw) return spec.raw;
  const questions: dnsPacket.Question[] =
    spec.questions === 'ours' ? [{ type, name: qname, class: 'IN' }]
    : spec.questions === 'two' ? [{ type, name: qname, class: 'IN' }, { type, name: qname, class: 'IN' }]
    : spec.questions === 'other' ? [{ type: type === 'A' ? 'AAAA' : 'A', name: qname, class: 'IN' }]
    : [];
  const flags = dnsPacket.RECURSION_DESIRED | (spec.tc && !overTcp ? dnsPacket.TRUNCATED_RESPONSE : 0) | (spec.opcode << 11) | spec.rcode;
  let buf: Uint8Array;
  try {
    buf = dnsPacket.encode({ type: spec.qr ? 'response' : 'query', id: (ID + spec.idDelta) & 0xffff, flags, questions, answers: spec.answers, authorities: spec.authorities });
  } catch {
    return new Uint8Array(0); // a record dns-packet cannot write: the server sends garbage instead
  }
  return spec.damage.reduce(applyByteMutation, buf);
}

/** src/adapters/dns.ts's query() with one server and one attempt, the network replaced by serve(). */
function query(s: Scenario, qname: string, type: AddressType): { ok: true; reply: Extract<ReturnType<typeof checkResponse>, { kind: 'answer' }> } | { ok: false; tries: FailedTry[] } {
  const expect = { id: ID, name: qname, type };
  const udp = serve(s, qname, type, false);
  // a packet that is not the answer is dropped and the wait ends in a timeout
  let r = udp === null ? null : checkResponse(udp, expect);
  if (r?.kind === 'truncated') {
    const tcp = serve(s, qname, type, true);
    r = tcp === null ? null : checkResponse(tcp, expect);
    if (r?.kind === 'truncated') return { ok: false, tries: [{ server: SERVER, failure: 'bad', detail: 'truncated answer over TCP' }] };
  }
  if (r === null || r.kind !== 'answer') return { ok: false, tries: [{ server: SERVER, failure: 'timeout', detail: 'no answer' }] };
  if (r.outcome === 'noerror' || r.outcome === 'nxdomain') return { ok: true, reply: r };
  return { ok: false, tries: [{ server: SERVER, failure: r.outcome, detail: r.rcodeName }] };
}

/** src/adapters/dns.ts's resolveFamily, step for step. */
function resolveFamily(s: Scenario, name: string, type: AddressType): FamilyOutcome {
  const records: DnsRecord[] = [];
  const queried = new Set<string>();
  const servers = [SERVER];
  let qname = name;
  for (let asked = 0; ; asked++) {
    assert.ok(asked < 50, `the resolver keeps asking: ${[...queried].join(', ')}`);
    queried.add(qname);
    const r = query(s, qname, type);
    if (!r.ok) {
      const sum = summariseTries(r.tries);
      const step = followChain(name, records, type, queried);
      return { ok: false, type, failure: sum.failure, chain: step.chain, at: qname, servers: sum.servers, detail: sum.detail };
    }
    records.push(...r.reply.records);
    const step = followChain(name, records, type, queried);
    if (r.reply.outcome === 'nxdomain') return { ok: false, type, failure: 'nxdomain', chain: step.chain, at: step.chain.at(-1) ?? name, servers, detail: 'NXDOMAIN' };
    switch (step.kind) {
      case 'done':
        return { ok: true, type, chain: step.chain, addresses: step.addresses, ttl: step.ttl, servers };
      case 'next':
        qname = step.name;
        continue;
      case 'loop':
      case 'depth':
        return { ok: false, type, failure: step.kind, chain: step.chain, at: qname, servers, detail: step.kind };
      case 'conflict':
        return { ok: false, type, failure: 'bad', chain: step.chain, at: step.owner, servers, detail: `${step.owner} has several CNAME targets (${step.targets.join(', ')})` };
    }
  }
}

// What a log line may not carry once escaped (src/adapters/log.ts): C0, DEL, C1, U+2028/2029.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

test('fuzz: DNS answers through checkResponse, CNAME following and combineFamilies', async (t) => {
  const r = fuzz(scenario, (s) => {
    const name = s.asked.toLowerCase();
    const out = combineFamilies(name, [resolveFamily(s, name, 'A'), resolveFamily(s, name, 'AAAA')], CTX);
    if (out instanceof VipError) {
      // the message names what DNS said: whatever it holds, the log line stays one clean line
      assert.doesNotMatch(escapeLogText(out.message), UNSAFE);
      throw out;
    }
    assert.ok(out.addresses.length > 0);
    for (const a of out.addresses) assert.equal(parseAddress(a)?.address, a, 'addresses come out canonical');
    assert.ok(Number.isInteger(out.ttl) && out.ttl >= 0 && out.ttl <= 0x7fffffff, `ttl ${out.ttl}`);
    assert.doesNotMatch(escapeLogText(out.chain.join(' -> ')), UNSAFE);
    return out.chain.length > 0 ? 'resolved via CNAME' : 'resolved';
  });
  await report(t, 'DNS answers', r);
});
