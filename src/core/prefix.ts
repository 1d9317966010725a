// Address and prefix normalisation: every comparison of addresses goes through here, never raw strings.
import ipaddr from 'ipaddr.js';
import { printable } from './text.js';
import type { Family, Vip } from './types.js';

/** An address as written: ipaddr's parse of the part before any "%zone", and the zone. Only dotted
 *  quads and colon forms count (ipaddr.isValid also takes "1" or "0x7f.1"). */
function parseWritten(text: string): { addr: ipaddr.IPv4 | ipaddr.IPv6; zone: string | null } | null {
  const t = text.trim();
  const pct = t.indexOf('%');
  const base = pct < 0 ? t : t.slice(0, pct);
  if (!base.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(base)) return null;
  // ipaddr.isValid refuses other characters by throwing and catching (~40 us): refuse them first
  if (!/^[0-9A-Fa-f:.]+$/.test(base) || !ipaddr.isValid(base)) return null;
  return { addr: ipaddr.parse(base), zone: pct < 0 ? null : t.slice(pct + 1) };
}

/** Parse a literal IPv4/IPv6 address to its canonical form; null when it is not one. An address
 *  with a zone id ("fe80::1%eth0") is not one. An IPv4-mapped IPv6 address stays IPv6
 *  ("::ffff:c000:207"): it is never taken for the IPv4 address (vipAddressProblem refuses it as a VIP). */
export function parseAddress(text: string): { address: string; family: Family } | null {
  // A dotted quad without leading zeros is its own canonical form: ipaddr.js would return the same
  // text, at ~30 us a call before the JIT warms up (a watchdog cycle checks ~5,000 addresses).
  if (CANONICAL_V4.test(text)) return { address: text, family: 4 };
  let r = seen.get(text);
  if (r === undefined) {
    // plain hex-and-colons IPv6 (no embedded IPv4, no zone, no spaces): RFC 5952 form computed here
    const groups = HEX_COLONS.test(text) ? v6Groups(text) : null;
    if (groups) r = { address: v6Text(groups), family: 6 };
    else {
      const w = parseWritten(text);
      r = !w || w.zone !== null ? null : { address: w.addr.toString(), family: w.addr.kind() === 'ipv4' ? 4 : 6 };
    }
    if (seen.size >= SEEN_MAX) seen.clear();
    seen.set(text, r);
  }
  return r && { ...r };
}

const HEX_COLONS = /^[0-9A-Fa-f:]+$/;

/** The 8 groups of an IPv6 address written as hex groups and at most one "::" (which stands for at
 *  least one zero group); null for anything else, which then goes to ipaddr.js. */
export function v6Groups(text: string): number[] | null {
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return null;
  const side = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.length < 1 || g.length > 4) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  if (dbl < 0) {
    const all = side(text);
    return all && all.length === 8 ? all : null;
  }
  const head = side(text.slice(0, dbl));
  const tail = side(text.slice(dbl + 2));
  if (!head || !tail || head.length + tail.length > 7) return null;
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text of 8 groups, as ipaddr.js prints it: lower-case hex without leading zeros, the
 *  longest run of two or more zero groups (the first on a tie) as "::". */
export function v6Text(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

const bytesSeen = new Map<string, number[]>();

/** The 4 or 16 bytes of an address in parseAddress's canonical form (remembered: sorting and
 *  prefix checks ask for the same VIPs over and over). Throws on text that is not one. */
export function addressBytes(address: string): number[] {
  let b = bytesSeen.get(address);
  if (b === undefined) {
    if (CANONICAL_V4.test(address)) b = address.split('.').map(Number);
    else {
      const g = HEX_COLONS.test(address) ? v6Groups(address) : null;
      b = g ? g.flatMap((x) => [x >> 8, x & 255]) : ipaddr.parse(address).toByteArray();
    }
    if (bytesSeen.size >= SEEN_MAX) bytesSeen.clear();
    bytesSeen.set(address, b);
  }
  return b;
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const CANONICAL_V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
/** parseAddress's answers by text: the same VIPs and real servers come back many times a run (and
 *  in a daemon, every cycle). Bounded: cleared when full. */
const seen = new Map<string, { address: string; family: Family } | null>();
const SEEN_MAX = 100_000;

/** True when TEXT is written as an IP address, usable as a VIP or not (zone ids, IPv4-mapped,
 *  multicast...): such a NAME is never a DNS name to resolve. */
export function looksLikeAddress(text: string): boolean {
  return parseWritten(text) !== null;
}

/** Ranges (ipaddr.js names) no VIP can be in: a VIP is a unicast address reachable over BGP.
 *  Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), private
 *  and unique-local ones stay accepted. */
const NOT_UNICAST: Record<string, string> = {
  unspecified: 'an unspecified ("this network") address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address',
};

/**
 * Why TEXT may not be a VIP, or null when it may: not an address, an IPv6 zone id ("%lo"), an
 * IPv4-mapped IPv6 address (it must not silently become the IPv4 /32), or not unicast
 * (unspecified, multicast, broadcast, loopback, link-local). The one rule for the CLI's NAMEs,
 * DNS answers and the config's VIPs; the reason names TEXT (control characters escaped).
 */
export function vipAddressProblem(text: string): string | null {
  const w = parseWritten(text);
  const shown = printable(text.trim());
  if (!w) return `"${shown}" is not an IP address`;
  if (w.zone !== null) {
    return `${shown} carries an IPv6 zone id ("%${printable(w.zone)}"): a VIP is announced to BGP peers, where a zone means nothing; give the address without it`;
  }
  if (w.addr.kind() === 'ipv6' && (w.addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    const v4 = (w.addr as ipaddr.IPv6).toIPv4Address().toString();
    return `${shown} is an IPv4-mapped IPv6 address: it is not the IPv4 address ${v4}; write ${v4} if that is the VIP`;
  }
  const range = w.addr.range();
  if (Object.hasOwn(NOT_UNICAST, range)) return `${shown} is ${NOT_UNICAST[range]}, not a unicast address a VIP can be`;
  return null;
}

// The non-unicast ranges above as prefixes, for vip_prefixes: a prefix that reaches into one of them
// would let such an address pass the "inside vip_prefixes" check.
const NOT_UNICAST_NETS = (
  [
    ['0.0.0.0/8', 'unspecified'], ['127.0.0.0/8', 'loopback'], ['169.254.0.0/16', 'link-local'],
    ['224.0.0.0/4', 'multicast'], ['255.255.255.255/32', 'broadcast'],
    ['::/128', 'unspecified'], ['::1/128', 'loopback'], ['::ffff:0:0/96', 'IPv4-mapped'],
    ['fe80::/10', 'link-local'], ['ff00::/8', 'multicast'],
  ] as const
).map(([range, what]) => ({ range, what, cidr: ipaddr.parseCIDR(range) }));

/** Why TEXT ("A/LEN") may not be a vip_prefixes entry, or null: not a prefix, a zone id or
 *  IPv4-mapped form, or a range that overlaps addresses no VIP can have (0.0.0.0/0 included). */
export function vipPrefixProblem(text: string): string | null {
  const t = text.trim();
  const slash = t.indexOf('/');
  const shown = printable(t);
  if (slash < 0) return `"${shown}" is not a prefix (expected e.g. 192.0.2.0/24)`;
  const addrText = t.slice(0, slash);
  const w = parseWritten(addrText);
  if (w && (w.zone !== null || (w.addr.kind() === 'ipv6' && (w.addr as ipaddr.IPv6).isIPv4MappedAddress()))) {
    return `${shown}: ${vipAddressProblem(addrText)}`;
  }
  const n = normalisePrefix(t);
  if (!n) return `"${shown}" is not a prefix (expected e.g. 192.0.2.0/24)`;
  const [a, l] = n.split('/') as [string, string];
  const net = ipaddr.parse(a);
  const len = Number(l);
  for (const { range, what, cidr } of NOT_UNICAST_NETS) {
    const [ra, rl] = cidr;
    if (ra.kind() !== net.kind()) continue;
    // Two prefixes overlap when the shorter one contains the other's network address.
    const overlap = len <= rl ? ra.match(net, len) : net.match(ra, rl);
    if (overlap) return `${shown} overlaps ${range} (${what}), where no VIP can be: list only the ranges your VIPs come from`;
  }
  return null;
}

export function isAddress(text: string): boolean {
  return parseAddress(text) !== null;
}

/** The VIP (host prefix) of an address; throws on a non-address. */
export function toVip(text: string): Vip {
  const p = parseAddress(text);
  if (!p) throw new TypeError(`not an IP address: ${text}`);
  return { ...p, prefix: `${p.address}/${p.family === 4 ? 32 : 128}` };
}

/** Normalise "A/LEN" (or a bare address, taken as a host prefix) to canonical network form;
 *  null when invalid. Host bits are cleared: "192.0.2.7/24" -> "192.0.2.0/24". */
export function normalisePrefix(text: string): string | null {
  // the common case, a canonical IPv4 host prefix, is already in canonical network form
  const slash32 = text.length - 3;
  if (text.endsWith('/32') && CANONICAL_V4.test(text.slice(0, slash32))) return text;
  const t = text.trim();
  const slash = t.indexOf('/');
  if (slash < 0) {
    const p = parseAddress(t);
    return p ? `${p.address}/${p.family === 4 ? 32 : 128}` : null;
  }
  const addr = parseAddress(t.slice(0, slash));
  const lenText = t.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(lenText)) return null;
  const len = Number(lenText);
  const max = addr.family === 4 ? 32 : 128;
  if (len > max) return null;
  if (len === max) return `${addr.address}/${len}`; // a host prefix has no host bits to clear
  const net = ipaddr.parse(addr.address);
  const bytes = net.toByteArray();
  for (let bit = len; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
}

// vip_prefixes is one array per config: parse it once, not once per VIP (a watchdog cycle asks
// for every VIP of every service).
const parsedPrefixes = new WeakMap<readonly string[], [number[], number][]>();

/** True when the first LEN bits of A and NET are equal (both the same family's bytes). */
function matchBits(a: number[], net: number[], len: number): boolean {
  let i = 0;
  for (; i < len >> 3; i++) if (a[i] !== net[i]) return false;
  const rest = len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[i]! & mask) === (net[i]! & mask);
}

/** True when the VIP lies inside one of the (normalised or not) prefixes. */
export function insideAny(vip: Vip, prefixes: readonly string[]): boolean {
  let nets = parsedPrefixes.get(prefixes);
  if (!nets) {
    nets = prefixes.flatMap((p): [number[], number][] => {
      const n = normalisePrefix(p);
      if (!n) return [];
      const [a, l] = n.split('/') as [string, string];
      return [[addressBytes(a), Number(l)]];
    });
    parsedPrefixes.set(prefixes, nets);
  }
  const addr = addressBytes(vip.address);
  return nets.some(([net, len]) => net.length === addr.length && matchBits(addr, net, len));
}

/** Stable order: IPv4 before IPv6, then numerically. */
export function compareVips(a: Vip, b: Vip): number {
  if (a.family !== b.family) return a.family - b.family;
  return compareBytes(addressBytes(a.address), addressBytes(b.address));
}

function compareBytes(x: number[], y: number[]): number {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** Sort VIPs (or things carrying one) in compareVips order, parsing each address once. */
export function sortByVip<T>(items: T[], vipOf: (t: T) => Vip): T[] {
  return items
    .map((t) => {
      const v = vipOf(t);
      return { t, family: v.family, b: addressBytes(v.address) };
    })
    .sort((x, y) => (x.family !== y.family ? x.family - y.family : compareBytes(x.b, y.b)))
    .map((x) => x.t);
}

export function compareAddresses(a: string, b: string): number {
  return compareVips(toVip(a), toVip(b));
}
