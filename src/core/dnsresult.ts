// From per-query outcomes to one ResolvedName or one VipError that says what to do next (pure).
import { VipError, type ErrorCode } from './errors.js';
import { compareAddresses, looksLikeAddress, parseAddress, vipAddressProblem } from './prefix.js';
import { printable } from './text.js';
import { MAX_CNAME_DEPTH, type AddressType } from './dnsmsg.js';
import type { ResolvedName } from './types.js';

/** Why one try (one query to one server) gave no usable answer. */
export type TryFailure = 'timeout' | 'unreachable' | 'servfail' | 'refused' | 'bad';

export interface FailedTry {
  server: string; // "127.0.0.1:5353"
  failure: TryFailure;
  detail: string;
}

export type Failure = 'nxdomain' | 'servfail' | 'refused' | 'timeout' | 'loop' | 'depth' | 'bad';

/** How resolving one address family (A or AAAA) of a name ended. */
export type FamilyOutcome =
  | { ok: true; type: AddressType; chain: string[]; addresses: string[]; ttl: number | null; servers: string[] }
  | {
      ok: false;
      type: AddressType;
      failure: Failure;
      chain: string[];
      /** the name whose query failed (the asked name or a CNAME target) */
      at: string;
      servers: string[];
      detail: string;
    };

export interface ResolveContext {
  attempts: number;
  timeoutMs: number;
  /** where the servers come from: "dns.servers" or a resolv.conf path */
  source: string;
}

const unique = (xs: readonly string[]): string[] => [...new Set(xs)];

/**
 * One failure for a query whose every try failed. A server that answered SERVFAIL or REFUSED
 * says more than one that stayed silent, so those win over timeouts in the report.
 */
export function summariseTries(tries: readonly FailedTry[]): { failure: Failure; servers: string[]; detail: string } {
  const order: TryFailure[] = ['servfail', 'refused', 'bad', 'timeout', 'unreachable'];
  const worst = order.find((f) => tries.some((t) => t.failure === f)) ?? 'timeout';
  const failure: Failure = worst === 'unreachable' ? 'timeout' : worst;
  const servers = unique(tries.map((t) => t.server));
  const details = unique(tries.filter((t) => t.failure !== 'timeout').map((t) => `${t.server}: ${t.detail}`));
  return { failure, servers, detail: details.join('; ') };
}

const FAILURE_RANK: Failure[] = ['loop', 'depth', 'bad', 'servfail', 'refused', 'timeout', 'nxdomain'];

const CODE: Record<Failure, ErrorCode> = {
  nxdomain: 'VIP_E_DNS_NXDOMAIN',
  servfail: 'VIP_E_DNS_SERVFAIL',
  refused: 'VIP_E_DNS_REFUSED',
  timeout: 'VIP_E_DNS_TIMEOUT',
  loop: 'VIP_E_DNS_CNAME_LOOP',
  depth: 'VIP_E_DNS_CNAME_DEPTH',
  bad: 'VIP_E_DNS_BAD_ANSWER',
};

const hops = (name: string, chain: readonly string[]): string => [name, ...chain].join(' -> ');
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The VipError for a failed family of NAME. */
export function failureError(name: string, f: Extract<FamilyOutcome, { ok: false }>, ctx: ResolveContext): VipError {
  const servers = f.servers.join(', ') || '(none)';
  const via = f.chain.length > 0 ? `, via ${hops(name, f.chain)}` : '';
  const q = `${f.at} ${f.type}`;
  let msg: string;
  switch (f.failure) {
    case 'nxdomain':
      msg =
        f.at === name
          ? `${name} does not exist (NXDOMAIN from ${servers}): check the name for typos, or publish it in DNS`
          : `${name} is an alias of ${f.at}, which does not exist (NXDOMAIN from ${servers}${via}): fix the CNAME or publish its target`;
      break;
    case 'servfail':
      msg = `server failure resolving ${name} (SERVFAIL for ${q} from ${servers}${via}): the server could not get an answer (upstream or DNSSEC trouble, see its logs); retry later or fix ${ctx.source}`;
      break;
    case 'refused':
      msg = `${servers} refused to resolve ${name} (REFUSED for ${q}${via}): use a server that resolves this name for this host (see ${ctx.source})`;
      break;
    case 'timeout':
      msg = `timeout resolving ${name} (${q}${via}) after ${plural(ctx.attempts, 'attempt')} of ${ctx.timeoutMs}ms to ${servers}${f.detail ? ` (${f.detail})` : ''}: is the DNS server up? see ${ctx.source}`;
      break;
    case 'loop':
      msg = `CNAME loop resolving ${name}: ${hops(name, f.chain)} (from ${servers}): fix the CNAME records`;
      break;
    case 'depth':
      msg = `CNAME chain of ${name} is longer than ${MAX_CNAME_DEPTH} hops (${hops(name, f.chain)}, from ${servers}): point the name closer to its address records`;
      break;
    case 'bad':
      msg = `unusable DNS answer for ${name} (${q}${via}) from ${servers}: ${f.detail}: check the server (see ${ctx.source})`;
      break;
  }
  return new VipError(CODE[f.failure], msg, { name, type: f.type, at: f.at, chain: f.chain, servers: f.servers });
}

/**
 * A NAME written as an address resolves to itself without asking DNS; one that cannot be a VIP
 * (a zone id, IPv4-mapped, not unicast) is VIP_E_BAD_ADDRESS (exit 2) before anything happens:
 * `-d 2001:db8::21%lo` would otherwise drain nothing and leave a hold on an address no route has.
 * Null when INPUT is not written as an address (a DNS name to resolve).
 */
export function literalName(input: string): ResolvedName | VipError | null {
  if (!looksLikeAddress(input)) return null;
  const problem = vipAddressProblem(input);
  const lit = problem === null ? parseAddress(input) : null;
  if (!lit) {
    return new VipError('VIP_E_BAD_ADDRESS', `${problem ?? `"${printable(input)}" is not an IP address`} (nothing was changed)`, {
      name: printable(input),
    });
  }
  return { name: input.trim().toLowerCase(), chain: [], addresses: [lit.address], ttl: 0 };
}

export function noServerError(name: string, source: string): VipError {
  return new VipError(
    'VIP_E_DNS_NO_SERVER',
    `no DNS server to ask for ${name}: dns.servers is empty and ${source} lists no usable nameserver: set dns.servers in the config`,
    { name, source },
  );
}

/**
 * Join the A and AAAA outcomes of NAME. A name that exists in one family only is fine, and so is
 * NXDOMAIN in one family beside addresses in the other (some servers answer a missing AAAA that
 * way). Any other failure fails the whole name even when the other family answered: returning
 * half the VIPs of a service on a transient error would make add/delete act on half of them.
 */
export function combineFamilies(name: string, outcomes: readonly FamilyOutcome[], ctx: ResolveContext): ResolvedName | VipError {
  const oks = outcomes.filter((o): o is Extract<FamilyOutcome, { ok: true }> => o.ok);
  const fails = outcomes.filter((o): o is Extract<FamilyOutcome, { ok: false }> => !o.ok);
  const rank = (f: Failure): number => FAILURE_RANK.indexOf(f);
  const hard = fails.filter((f) => f.failure !== 'nxdomain').sort((x, y) => rank(x.failure) - rank(y.failure));
  if (hard[0]) return failureError(name, hard[0], ctx);
  const addresses = unique(oks.flatMap((o) => o.addresses)).sort(compareAddresses);
  if (addresses.length === 0) {
    if (fails[0]) return failureError(name, fails[0], ctx);
    const longest = oks.reduce<string[]>((c, o) => (o.chain.length > c.length ? o.chain : c), []);
    const servers = unique(oks.flatMap((o) => o.servers)).join(', ') || '(none)';
    const via = longest.length > 0 ? ` (via ${hops(name, longest)})` : '';
    return new VipError(
      'VIP_E_DNS_NO_ADDRESS',
      `${name} has no A or AAAA record${via}, asked ${servers}: publish an address record, or give the address itself`,
      { name, chain: longest, servers: unique(oks.flatMap((o) => o.servers)) },
    );
  }
  // An answer with an address no VIP can have (an IPv4-mapped AAAA, a multicast A...) is refused
  // whole: the mapped AAAA must not become the IPv4 /32, and half a name's VIPs is no answer.
  for (const a of addresses) {
    const problem = vipAddressProblem(a);
    if (problem === null) continue;
    const from = oks.find((o) => o.addresses.includes(a))!;
    const via = from.chain.length > 0 ? ` (via ${hops(name, from.chain)})` : '';
    return new VipError(
      'VIP_E_DNS_BAD_ANSWER',
      `unusable DNS answer for ${name}${via} from ${from.servers.join(', ') || '(none)'}: its ${from.type} record ${problem}; fix the record`,
      { name, address: a, type: from.type, chain: from.chain, servers: from.servers },
    );
  }
  const withAddr = oks.find((o) => o.addresses.length > 0)!;
  const ttls = oks.map((o) => o.ttl).filter((t): t is number => t !== null);
  return { name, chain: withAddr.chain, addresses, ttl: ttls.length > 0 ? Math.min(...ttls) : 0 };
}
