// Pure parts of a watchdog cycle: what to watch, the DNS cache rules, and the per-VIP decisions.
import { decide, type Decision, type Policy } from './decide.js';
import { VipError } from './errors.js';
import { rankIn, routeMapName, serviceKey } from './plan.js';
import { insideAny, sortByVip, toVip } from './prefix.js';
import type { DnsCacheEntry, ResolvedName, RunningBgp, SpeakerChange, State, Vip } from './types.js';
import type { Config } from '../config/load.js';

export interface WatchItem {
  vip: Vip;
  names: string[];
  routeMap: string;
  policy: Policy;
  discovered: boolean;
}

/** The VIPs to watch: every address of every service this DC announces, plus (discover) every
 *  IPVS VIP inside vip_prefixes. A VIP of several services takes the strictest thresholds. */
export function watchItems(
  config: Pick<Config, 'dc' | 'services' | 'vip_prefixes' | 'watchdog'>,
  resolved: ResolvedName[],
  ipvsVips: string[],
): { items: WatchItem[]; errors: VipError[] } {
  const items = new Map<string, WatchItem>();
  const errors: VipError[] = [];
  const wd = config.watchdog;
  const services = new Map(config.services.map((s) => [s.name, s]));
  for (const r of resolved) {
    const service = services.get(serviceKey(r.name));
    const rank = rankIn(service, config.dc);
    if (rank === null) continue; // this DC does not announce the service at all
    const min = service?.min_realservers ?? wd.min_realservers;
    const restore = service?.restore_realservers ?? Math.max(min, wd.restore_realservers ?? min);
    for (const a of r.addresses) {
      const vip = toVip(a);
      if (!insideAny(vip, config.vip_prefixes)) {
        errors.push(new VipError('VIP_E_POLICY_PREFIX', `${r.name} resolves to ${vip.address}, outside vip_prefixes: not watched`, { vip: vip.address, name: r.name }));
        continue;
      }
      const seen = items.get(vip.prefix);
      if (!seen) {
        items.set(vip.prefix, { vip, names: [r.name], routeMap: routeMapName(rank), policy: { min, restore, rise: wd.rise, fall: wd.fall }, discovered: false });
      } else {
        if (!seen.names.includes(r.name)) seen.names.push(r.name);
        if (seen.routeMap !== routeMapName(rank)) {
          errors.push(new VipError('VIP_E_POLICY_CONFLICT', `${vip.address} is in ${seen.names.join(', ')} with different prefer ranks; using ${seen.routeMap}`, { vip: vip.address }));
        }
        seen.policy = { ...seen.policy, min: Math.max(seen.policy.min, min), restore: Math.max(seen.policy.restore, restore) };
      }
    }
  }
  if (wd.discover) {
    const min = wd.min_realservers;
    const restore = Math.max(min, wd.restore_realservers ?? min);
    for (const a of ipvsVips) {
      const vip = toVip(a);
      if (items.has(vip.prefix) || !insideAny(vip, config.vip_prefixes)) continue;
      items.set(vip.prefix, { vip, names: [], routeMap: routeMapName(0), policy: { min, restore, rise: wd.rise, fall: wd.fall }, discovered: true });
    }
  }
  return { items: sortByVip([...items.values()], (i) => i.vip), errors };
}

// ---- DNS cache ------------------------------------------------------------------------------

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

// ---- one cycle --------------------------------------------------------------------------------

export interface ItemDecision {
  item: WatchItem;
  decision: Decision;
  configuredRouteMap: string | null;
  configured: boolean;
}

/** Decide every item. `live` is null when IPVS could not be read (every VIP is then unknown). */
export function decideAll(
  items: WatchItem[],
  live: Map<string, number> | null,
  running: RunningBgp,
  state: State,
): { decisions: ItemDecision[]; changes: SpeakerChange[] } {
  const conf = new Map(running.networks.map((n) => [n.prefix, n.routeMap]));
  const decisions = items.map((item) => {
    const p = item.vip.prefix;
    const configured = conf.has(p);
    const decision = decide(
      state.watchdog[p],
      { live: live === null ? null : (live.get(item.vip.address) ?? 0), held: p in state.holds, configured },
      item.policy,
    );
    return { item, decision, configured, configuredRouteMap: conf.get(p) ?? null };
  });
  const changes: SpeakerChange[] = decisions
    .filter((d) => d.decision.action !== 'none')
    .map((d) => ({
      action: d.decision.action as 'add' | 'delete',
      prefix: d.item.vip.prefix,
      routeMap: d.decision.action === 'add' ? d.item.routeMap : d.configuredRouteMap,
    }));
  return { decisions, changes };
}

/** The SPEC log line of a watchdog change, worded as the original tool did. */
export function watchdogLine(d: ItemDecision): string {
  const live = d.decision.next.live;
  if (d.decision.next.state === 'held') return `${d.item.vip.address} is held for maintenance > delete route`;
  return `${live ?? 0} realservers available behind ${d.item.vip.address} > ${d.decision.action} route`;
}

/** The state after a cycle: watchdog entries of watched VIPs (others dropped unless held). */
export function nextWatchdogState(state: State, decisions: ItemDecision[], now: Date): State {
  const watchdog: State['watchdog'] = {};
  for (const d of decisions) {
    const p = d.item.vip.prefix;
    const prev = state.watchdog[p];
    const changed = !prev || prev.state !== d.decision.next.state;
    watchdog[p] = { ...d.decision.next, since: changed ? now.toISOString() : prev.since };
  }
  return { ...state, watchdog };
}
