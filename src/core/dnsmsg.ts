// DNS wire messages, pure: build a query, judge a response against it, follow CNAME chains in collected answers.
import dnsPacket from 'dns-packet';
import { compareAddresses, parseAddress } from './prefix.js';

export type AddressType = 'A' | 'AAAA';

/** One A, AAAA or CNAME record of an answer section; names lower case without the trailing dot,
 *  addresses canonical (prefix.ts). */
export interface DnsRecord {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME';
  ttl: number;
  data: string;
}

export type RcodeClass = 'noerror' | 'nxdomain' | 'servfail' | 'refused' | 'bad';

/** What to do with one packet received while waiting for the answer to a query. */
export type Reply =
  /** Not the answer to our query (malformed, wrong id, wrong question, not a response): a spoof
   *  or a stray late answer, so drop it and keep waiting until the timeout. */
  | { kind: 'ignore'; reason: string }
  /** The answer did not fit in UDP: ask the same server again over TCP. */
  | { kind: 'truncated' }
  | { kind: 'answer'; rcode: number; rcodeName: string; outcome: RcodeClass; records: DnsRecord[] };

export interface Expect {
  id: number;
  name: string;
  type: AddressType;
}

/** Longest CNAME chain followed before giving up (hops, not names). */
export const MAX_CNAME_DEPTH = 8;

// Header bits (RFC 1035 4.1.1) of dns-packet's `flags` (the header word without QR): its typings
// omit the decoded rcode and opcode.
const TC = 0x0200;
const OPCODE_MASK = 0x7800;

/** Lower case, without the trailing dot: the form names are compared and reported in. */
export function normaliseName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** True for a name we are willing to put on the wire: LDH/underscore labels of 1..63 bytes, at
 *  most 253 bytes in all. dns-packet would silently cut "a..b" at the empty label. */
export function isValidName(name: string): boolean {
  const n = normaliseName(name);
  if (n.length === 0 || n.length > 253) return false;
  return n.split('.').every((l) => l.length >= 1 && l.length <= 63 && /^[a-z0-9_-]+$/.test(l));
}

/** A recursive (RD) query for NAME/TYPE IN with the given 16-bit id (the caller draws it at random). */
export function buildQuery(name: string, type: AddressType, id: number): Buffer {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`DNS id out of range: ${id}`);
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name: normaliseName(name), class: 'IN' }],
  });
}

const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
};

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** NXDOMAIN is a final answer (the name does not exist); SERVFAIL and REFUSED are one server's
 *  trouble, worth asking the next one; anything else means the server did not understand us. */
export function classifyRcode(rcode: number): RcodeClass {
  switch (rcode) {
    case 0:
      return 'noerror';
    case 2:
      return 'servfail';
    case 3:
      return 'nxdomain';
    case 5:
      return 'refused';
    default:
      return 'bad';
  }
}

/** Judge one received packet against the query we sent. */
export function checkResponse(buf: Uint8Array, expect: Expect): Reply {
  let p: dnsPacket.DecodedPacket;
  try {
    p = dnsPacket.decode(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  } catch (e) {
    return { kind: 'ignore', reason: `malformed packet: ${(e as Error).message}` };
  }
  // dns-packet reads record data past the end of a cut packet without throwing ("192.0.2.undefined"):
  // a packet that claims more bytes than it has is malformed too.
  if (dnsPacket.decode.bytes > buf.byteLength) return { kind: 'ignore', reason: 'malformed packet: truncated record data' };
  const flags = p.flags ?? 0;
  if (!p.flag_qr) return { kind: 'ignore', reason: 'not a response' };
  if (p.id !== expect.id) return { kind: 'ignore', reason: `id ${p.id} is not ${expect.id}` };
  if ((flags & OPCODE_MASK) !== 0) return { kind: 'ignore', reason: 'not a standard query response' };
  const qs = p.questions ?? [];
  const q = qs[0];
  if (
    qs.length !== 1 ||
    !q ||
    normaliseName(q.name) !== normaliseName(expect.name) ||
    q.type !== expect.type ||
    (q.class ?? 'IN') !== 'IN'
  ) {
    const got = q ? `${q.name}/${q.type}/${q.class ?? '?'}` : 'none';
    return { kind: 'ignore', reason: `question ${got} is not ${normaliseName(expect.name)}/${expect.type}/IN` };
  }
  if (flags & TC) return { kind: 'truncated' };
  const rcode = flags & 0x0f;
  return { kind: 'answer', rcode, rcodeName: rcodeName(rcode), outcome: classifyRcode(rcode), records: extractRecords(p.answers ?? []) };
}

// RFC 2181 8: a TTL with the top bit set is to be read as zero.
const ttlOf = (ttl: number | undefined): number => (ttl !== undefined && ttl >= 0 && ttl <= 0x7fffffff ? ttl : 0);

/** The A, AAAA and CNAME records of an answer section, class IN only. Authority and additional
 *  sections are never read: out-of-chain data there is how caches get poisoned. */
export function extractRecords(answers: readonly dnsPacket.Answer[]): DnsRecord[] {
  const out: DnsRecord[] = [];
  for (const a of answers) {
    if (a.type !== 'A' && a.type !== 'AAAA' && a.type !== 'CNAME') continue;
    if ((a.class ?? 'IN') !== 'IN' || typeof a.data !== 'string') continue;
    const name = normaliseName(a.name);
    const ttl = ttlOf(a.ttl);
    if (a.type === 'CNAME') {
      out.push({ name, type: 'CNAME', ttl, data: normaliseName(a.data) });
      continue;
    }
    const addr = parseAddress(a.data);
    if (addr) out.push({ name, type: a.type, ttl, data: addr.address });
  }
  return out;
}

/** Where following the CNAMEs of the collected answers leads. */
export type ChainStep =
  /** The chain ended at a name that was asked: its addresses of the type (none = NODATA). */
  | { kind: 'done'; chain: string[]; addresses: string[]; ttl: number | null }
  /** The chain leaves what the server sent: ask for NAME next. */
  | { kind: 'next'; chain: string[]; name: string }
  | { kind: 'loop'; chain: string[] }
  | { kind: 'depth'; chain: string[] }
  /** One name with two different CNAME targets: the answer cannot be trusted. */
  | { kind: 'conflict'; chain: string[]; owner: string; targets: string[] };

const minTtl = (a: number | null, b: number): number => (a === null ? b : Math.min(a, b));

/**
 * Follow CNAMEs from ASKED through RECORDS (everything collected so far, from one or several
 * answers) to the records of TYPE. Only records on the chain count: an address owned by any
 * other name is ignored, and a CNAME target is a name to follow, never an address (the original
 * tool's `dig +short` bug). QUERIED lists the names already asked, so a chain end that was asked
 * and has no data is NODATA rather than a name to ask for.
 */
export function followChain(
  asked: string,
  records: readonly DnsRecord[],
  type: AddressType,
  queried: ReadonlySet<string>,
  maxDepth = MAX_CNAME_DEPTH,
): ChainStep {
  const start = normaliseName(asked);
  const chain: string[] = [];
  const seen = new Set([start]);
  let ttl: number | null = null;
  let cur = start;
  for (;;) {
    const own = records.filter((r) => r.name === cur);
    const addrs = own.filter((r) => r.type === type);
    // Addresses win over a CNAME at the same name (which RFC 1034 forbids anyway).
    if (addrs.length > 0) {
      for (const r of addrs) ttl = minTtl(ttl, r.ttl);
      const addresses = [...new Set(addrs.map((r) => r.data))].sort(compareAddresses);
      return { kind: 'done', chain, addresses, ttl };
    }
    const cnames = own.filter((r) => r.type === 'CNAME');
    const targets = [...new Set(cnames.map((r) => r.data))];
    if (targets.length > 1) return { kind: 'conflict', chain, owner: cur, targets };
    const target = targets[0];
    if (target === undefined) {
      if (queried.has(cur)) return { kind: 'done', chain, addresses: [], ttl };
      return { kind: 'next', chain, name: cur };
    }
    for (const r of cnames) ttl = minTtl(ttl, r.ttl);
    if (seen.has(target)) return { kind: 'loop', chain: [...chain, target] };
    if (chain.length >= maxDepth) return { kind: 'depth', chain: [...chain, target] };
    chain.push(target);
    seen.add(target);
    cur = target;
  }
}
