// The watchdog's DNS cache rules: answers are reused until their TTL (bounded) runs out; pure.
import type { DnsCacheEntry, ResolvedName } from './types.js';

/** Cached answers are used until their TTL runs out (with a floor so a TTL of 0 does not mean a
 *  query every cycle of a 1 s daemon, and a ceiling so a name change is seen within the hour). */
export const DNS_TTL_FLOOR_S = 5;
export const DNS_TTL_CEIL_S = 3600;

export function cacheEntry(r: ResolvedName, now: Date): DnsCacheEntry {
  const ttl = Math.min(DNS_TTL_CEIL_S, Math.max(DNS_TTL_FLOOR_S, r.ttl));
  return { addresses: r.addresses, chain: r.chain, fetched: now.toISOString(), expires: new Date(now.getTime() + ttl * 1000).toISOString() };
}

export function cacheFresh(e: DnsCacheEntry | undefined, now: Date): boolean {
  return Boolean(e && Date.parse(e.expires) > now.getTime());
}

export function fromCache(name: string, e: DnsCacheEntry): ResolvedName {
  return { name, chain: e.chain, addresses: e.addresses, ttl: 0 };
}
