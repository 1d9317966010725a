// Pure planning for add/delete: what must change for the policy's targets (policy.ts), and did it.
import { DRAIN_ROUTE_MAP, type Target } from './policy.js';
import type { PrefixState, RunningBgp, SpeakerChange, Vip } from './types.js';

export type Action = 'add' | 'delete' | 'none';

export interface PlannedChange {
  vip: Vip;
  names: string[];
  action: Action;
  /** the route-map announced with (add/none) or the one configured (delete) */
  routeMap: string | null;
  reason: string;
}

const configured = new WeakMap<RunningBgp, Map<string, string | null>>();

/** prefix -> route-map of the running config, built once per read (verify asks once per VIP: 1000
 *  VIPs made it 1,000,000 map entries, ~200 ms of a 1000-VIP `-a`). */
function configuredOf(running: RunningBgp): Map<string, string | null> {
  let m = configured.get(running);
  if (!m) {
    m = new Map(running.networks.map((n) => [n.prefix, n.routeMap]));
    configured.set(running, m);
  }
  return m;
}

export function planAdd(targets: Target[], running: RunningBgp): PlannedChange[] {
  const conf = configuredOf(running);
  return targets.map((t) => {
    const base = { vip: t.vip, names: t.names, routeMap: t.routeMap };
    if (!conf.has(t.vip.prefix)) return { ...base, action: 'add', reason: `announce with route-map ${t.routeMap}` };
    const have = conf.get(t.vip.prefix) ?? null;
    if (have === t.routeMap) return { ...base, action: 'none', reason: 'already announced' };
    return { ...base, action: 'add', reason: `route-map ${have ?? '(none)'} -> ${t.routeMap}` };
  });
}

export function planDelete(targets: Target[], running: RunningBgp, reason: string): PlannedChange[] {
  const conf = configuredOf(running);
  return targets.map((t) => {
    const base = { vip: t.vip, names: t.names };
    if (!conf.has(t.vip.prefix)) return { ...base, action: 'none', routeMap: null, reason: 'not announced' };
    return { ...base, action: 'delete', routeMap: conf.get(t.vip.prefix) ?? null, reason };
  });
}

/** First stage of a graceful drain: every announced target re-announced with VIP-DRAIN. */
export function planDrain(targets: Target[], running: RunningBgp, reason: string): PlannedChange[] {
  const conf = configuredOf(running);
  return targets.map((t) => {
    const base = { vip: t.vip, names: t.names };
    if (!conf.has(t.vip.prefix)) return { ...base, action: 'none', routeMap: null, reason: 'not announced' };
    if (conf.get(t.vip.prefix) === DRAIN_ROUTE_MAP) return { ...base, action: 'none', routeMap: DRAIN_ROUTE_MAP, reason: 'already draining' };
    return { ...base, action: 'add', routeMap: DRAIN_ROUTE_MAP, reason };
  });
}

export function speakerChanges(plan: PlannedChange[]): SpeakerChange[] {
  return plan
    .filter((c): c is PlannedChange & { action: 'add' | 'delete' } => c.action !== 'none')
    .map((c) => ({ action: c.action, prefix: c.vip.prefix, routeMap: c.routeMap }));
}

/** Route-maps the plan announces with that the running config does not define (FRR would
 *  silently drop such a network statement). */
export function missingRouteMaps(plan: PlannedChange[], running: RunningBgp): string[] {
  const have = new Set(running.routeMaps);
  const want = new Set(plan.filter((c) => c.action !== 'delete' && c.routeMap).map((c) => c.routeMap as string));
  return [...want].filter((m) => !have.has(m)).sort();
}

export interface Verdict {
  verified: boolean;
  problem?: string;
}

/** Does the read-back running config and BGP table show what the change intended?
 *  `intent` is the end state wanted: announced (add) or withdrawn (delete). */
export function verify(intent: 'add' | 'delete', change: PlannedChange, running: RunningBgp, table: PrefixState | undefined): Verdict {
  const conf = configuredOf(running);
  const p = change.vip.prefix;
  if (intent === 'delete') {
    if (conf.has(p)) return { verified: false, problem: `${p} is still configured after the withdraw` };
    if (table?.inTable) return { verified: false, problem: `${p} is still in the BGP table` };
    return { verified: true };
  }
  if (!conf.has(p)) return { verified: false, problem: `${p} is not in the running config after the change` };
  const rm = conf.get(p) ?? null;
  if (rm !== change.routeMap) return { verified: false, problem: `${p} is configured with route-map ${rm ?? '(none)'}, not ${change.routeMap}` };
  // FRR's import check keeps a network whose prefix is not in the RIB out of the table (older
  // releases) or in it as invalid (8.x): either way the VIP is missing from a local interface.
  if (!table?.inTable || !table.valid) {
    return { verified: false, problem: `${p} is configured but not in BGP table: is the VIP on a local interface?` };
  }
  return { verified: true };
}
