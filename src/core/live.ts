// Live real servers per VIP from an IPVS table (SPEC.md "What counts as a live real server"); pure.
import { parseAddress, sortByVip, toVip } from './prefix.js';
import { positiveWeights, type IpvsReal, type IpvsTable } from './ipvs.js';

export interface RealServerRef {
  address: string;
  /** null: every port of that address */
  port: number | null;
}

export interface LiveOptions {
  /** firewall mark (decimal text, as in the config) -> VIPs whose traffic that mark carries */
  fwmarks: Record<string, string[]>;
  /** real servers that never count as live (sorry servers) */
  exclude: RealServerRef[];
}

export interface LiveCount {
  /** live real servers of the VIP's weakest virtual service; 0 when it has none */
  live: number;
  /** virtual services counted for the VIP (its ports and protocols, and mapped firewall marks) */
  services: number;
}

/**
 * For each VIP: the minimum, over every virtual service of that VIP (each port and protocol, and
 * each firewall-mark service mapped to it), of the real servers listed there with weight > 0 and
 * not excluded. A VIP with no virtual service at all has live 0 and services 0: nothing is behind it.
 * Keys of the result are the canonical VIP addresses (prefix.ts), whatever spelling came in;
 * a "/32" or "/128" host prefix is accepted for a VIP.
 */
export function liveCounts(table: IpvsTable, vips: string[], opts: LiveOptions): Map<string, LiveCount> {
  const exclude = opts.exclude.map((e) => ({ address: canonical(e.address), port: e.port }));
  const isLive = (r: IpvsReal): boolean =>
    r.weight > 0 && !exclude.some((e) => e.address === r.address && (e.port === null || e.port === r.port));

  // Firewall-mark services by the VIPs they are mapped to.
  const marksOf = new Map<string, Set<number>>();
  for (const [mark, list] of Object.entries(opts.fwmarks)) {
    const m = Number(mark);
    if (!Number.isInteger(m) || m < 0) throw new TypeError(`not a firewall mark: ${mark}`);
    for (const v of list) {
      const key = canonical(v);
      if (!marksOf.has(key)) marksOf.set(key, new Set());
      marksOf.get(key)!.add(m);
    }
  }

  // Live count of each service once, indexed by VIP and by mark: a discovering watchdog asks
  // about thousands of VIPs of a table with thousands of services.
  const byVip = new Map<string, number[]>();
  const byMark = new Map<number, number[]>();
  for (const s of table.services) {
    // with nothing excluded, isLive is "weight > 0": the table counts those itself, without making
    // a /proc table's 80,000 real servers into objects
    let n = 0;
    if (exclude.length === 0) n = positiveWeights(s);
    else for (const r of s.reals) if (isLive(r)) n++;
    if (s.vip !== null) push(byVip, s.vip, n);
    else if (s.fwmark !== null) push(byMark, s.fwmark, n);
  }

  const out = new Map<string, LiveCount>();
  for (const v of vips) {
    const vip = canonical(v);
    const counts = [...(byVip.get(vip) ?? [])];
    for (const m of marksOf.get(vip) ?? []) counts.push(...(byMark.get(m) ?? []));
    out.set(vip, { live: counts.length === 0 ? 0 : Math.min(...counts), services: counts.length });
  }
  return out;
}

/** Every VIP that has an address service in the table (firewall marks carry none), canonical,
 *  IPv4 first, each once: what `watchdog.discover` may watch. */
export function ipvsVips(table: IpvsTable): string[] {
  const seen = new Set<string>();
  for (const s of table.services) if (s.vip !== null) seen.add(s.vip);
  return sortByVip([...seen], toVip); // each address parsed once, not per comparison
}

function push<K>(map: Map<K, number[]>, key: K, n: number): void {
  const list = map.get(key);
  if (list) list.push(n);
  else map.set(key, [n]);
}

function canonical(text: string): string {
  const slash = text.indexOf('/');
  const host = slash < 0 ? text : text.slice(0, slash);
  const p = parseAddress(host);
  if (!p) throw new TypeError(`not an IP address: ${text}`);
  if (slash >= 0 && text.slice(slash + 1) !== String(p.family === 4 ? 32 : 128)) {
    throw new TypeError(`not a host prefix: ${text}`);
  }
  return p.address;
}
