// Pure assembly of `status` rows from what was read: resolved names, running config, BGP table, state.
import { compareVips, insideAny, toVip } from './prefix.js';
import { DRAIN_ROUTE_MAP } from './policy.js';
import type { Hold, PrefixState, ResolvedName, RunningBgp, State, Vip, WatchdogStateName } from './types.js';

export interface StatusRow {
  vip: string;
  prefix: string;
  names: string[];
  configured: boolean;
  announced: boolean;
  valid: boolean;
  best: boolean;
  advertisedTo: number;
  routeMap: string | null;
  live: number | null;
  threshold: number | null;
  hold: { reason: string; by: string; since: string; drainUntil?: string } | null;
  /** the watchdog's state; 'draining' (a graceful drain's first stage) and 'demoted' (announced
   *  with VIP-DRAIN by watchdog.down_action: demote) are read off the route-map */
  watchdog: WatchdogStateName | 'draining' | 'demoted';
  /** the host health checks failing at the watchdog's last cycle, "LABEL: why" (absent: none) */
  failing?: string[];
}

export interface StatusInput {
  vipPrefixes: string[];
  resolved: ResolvedName[];
  running: RunningBgp;
  table: Map<string, PrefixState>;
  state: State;
  /** restrict to the VIPs of `resolved` (status NAME...) */
  onlyResolved: boolean;
  live?: Map<string, { live: number; threshold: number }>;
}

export function statusRows(input: StatusInput): StatusRow[] {
  const vips = new Map<string, { vip: Vip; names: Set<string> }>();
  const add = (address: string, name?: string) => {
    const vip = toVip(address);
    const e = vips.get(vip.prefix) ?? { vip, names: new Set<string>() };
    if (name) e.names.add(name);
    vips.set(vip.prefix, e);
  };
  for (const r of input.resolved) for (const a of r.addresses) add(a, r.name);
  if (!input.onlyResolved) {
    // Everything vip-mgmt is responsible for: configured networks inside vip_prefixes, holds, watchdog state.
    for (const n of input.running.networks) {
      const vip = toVip(n.prefix.split('/')[0]!);
      if (n.prefix === vip.prefix && insideAny(vip, input.vipPrefixes)) add(vip.address);
    }
    for (const p of [...Object.keys(input.state.holds), ...Object.keys(input.state.watchdog)]) add(p.split('/')[0]!);
  }
  const configured = new Map(input.running.networks.map((n) => [n.prefix, n.routeMap]));
  return [...vips.values()]
    .sort((a, b) => compareVips(a.vip, b.vip))
    .map(({ vip, names }) => {
      const t = input.table.get(vip.prefix);
      const hold: Hold | undefined = input.state.holds[vip.prefix];
      for (const n of hold?.names ?? []) names.add(n);
      const wd = input.state.watchdog[vip.prefix];
      const live = input.live?.get(vip.prefix);
      return {
        vip: vip.address,
        prefix: vip.prefix,
        names: [...names].sort(),
        configured: configured.has(vip.prefix),
        announced: Boolean(t?.inTable && t.valid && t.best),
        valid: Boolean(t?.valid),
        best: Boolean(t?.best),
        advertisedTo: t?.advertisedTo ?? 0,
        routeMap: configured.get(vip.prefix) ?? null,
        live: live?.live ?? wd?.live ?? null,
        threshold: live?.threshold ?? null,
        hold: hold ? { reason: hold.reason, by: hold.by, since: hold.since, ...(hold.drain ? { drainUntil: hold.drain.until } : {}) } : null,
        watchdog: configured.get(vip.prefix) === DRAIN_ROUTE_MAP ? (hold ? 'draining' : 'demoted') : hold ? 'held' : (wd?.state ?? 'unknown'),
        ...(wd?.failing?.length ? { failing: wd.failing } : {}),
      };
    });
}
