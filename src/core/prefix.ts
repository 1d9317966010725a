// Address and prefix normalisation: every comparison of addresses goes through here, never raw strings.
import ipaddr from 'ipaddr.js';
import type { Family, Vip } from './types.js';

/** Parse a literal IPv4/IPv6 address (IPv4-mapped IPv6 becomes IPv4); null when it is not one. */
export function parseAddress(text: string): { address: string; family: Family } | null {
  const t = text.trim();
  if (!ipaddr.isValid(t)) return null;
  // ipaddr.isValid accepts forms like "1" or "0x7f.1"; require dotted quad or a colon form.
  if (!t.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(t)) return null;
  let a = ipaddr.parse(t);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  return { address: a.toString(), family: a.kind() === 'ipv4' ? 4 : 6 };
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
  const net = ipaddr.parse(addr.address);
  const bytes = net.toByteArray();
  for (let bit = len; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
}

// vip_prefixes is one array per config: parse it once, not once per VIP (a watchdog cycle asks
// for every VIP of every service).
const parsedPrefixes = new WeakMap<readonly string[], [ipaddr.IPv4 | ipaddr.IPv6, number][]>();

/** True when the VIP lies inside one of the (normalised or not) prefixes. */
export function insideAny(vip: Vip, prefixes: readonly string[]): boolean {
  let nets = parsedPrefixes.get(prefixes);
  if (!nets) {
    nets = prefixes.flatMap((p): [ipaddr.IPv4 | ipaddr.IPv6, number][] => {
      const n = normalisePrefix(p);
      if (!n) return [];
      const [a, l] = n.split('/') as [string, string];
      return [[ipaddr.parse(a), Number(l)]];
    });
    parsedPrefixes.set(prefixes, nets);
  }
  const addr = ipaddr.parse(vip.address);
  return nets.some(([net, len]) => net.kind() === addr.kind() && addr.match(net, len));
}

/** Stable order: IPv4 before IPv6, then numerically. */
export function compareVips(a: Vip, b: Vip): number {
  if (a.family !== b.family) return a.family - b.family;
  return compareBytes(ipaddr.parse(a.address).toByteArray(), ipaddr.parse(b.address).toByteArray());
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
      return { t, family: v.family, b: ipaddr.parse(v.address).toByteArray() };
    })
    .sort((x, y) => (x.family !== y.family ? x.family - y.family : compareBytes(x.b, y.b)))
    .map((x) => x.t);
}

export function compareAddresses(a: string, b: string): number {
  return compareVips(toVip(a), toVip(b));
}
