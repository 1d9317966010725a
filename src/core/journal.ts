// "State is the source of truth": what the announcement journal wants and the speaker lost, re-announced by every run.
//
// ExaBGP and GoBGP forget every route when they restart. FRR and Quagga reload their saved
// configuration, which holds what `render` printed (the services' VIPs, which the watchdog's policy
// announces again anyway) but not an operator's `-a` of a literal address. BIRD reads vip-mgmt's
// own include again. So every run (-a, -d, the watchdog) first compares the journal
// (state.announced, written before the speaker is touched) with what the speaker reports, over the
// entries the speaker can lose (healScope): what is missing is re-announced in the same batch as the
// run's own changes, with the route-map the journal names. A held VIP is re-announced only while a
// graceful drain keeps it on VIP-DRAIN; a plain hold means withdrawn, and nothing outside
// vip_prefixes is ever touched.
import { DRAIN_ROUTE_MAP, hostPrefixInside } from './policy.js';
import type { SpeakerKind } from '../config/schema.js';
import type { RunningBgp, SpeakerChange, State } from './types.js';

/** Which journal entries a speaker can lose on a restart: all (it keeps no configuration), only the
 *  literal addresses (a reloaded FRR/Quagga configuration has what render printed), or none (BIRD). */
export type HealScope = 'all' | 'literals' | 'none';

/** Why a run re-announces what the speaker lost, as logs and rows say it. */
export const HEAL_REASON = 'lost by the speaker (restarted?)';
export const healReason = (dryRun: boolean): string => `${HEAL_REASON}: ${dryRun ? 'would re-announce' : 're-announced'}`;

export function healScope(kind: SpeakerKind, stateless: boolean): HealScope {
  if (stateless) return 'all';
  return kind === 'frr' || kind === 'quagga' ? 'literals' : 'none';
}

export interface Healing {
  /** the running state as the run should plan on it: the lost announcements counted as present */
  running: RunningBgp;
  /** the adds that bring them back, for the same batch as the run's changes */
  heal: SpeakerChange[];
}

/** What the journal wants announced that RUNNING lacks, of the entries SCOPE covers. `now` decides
 *  whether a drain is still on. */
export function healLost(running: RunningBgp, state: Pick<State, 'announced' | 'holds'>, vipPrefixes: readonly string[], now: Date, scope: HealScope = 'all'): Healing {
  if (scope === 'none') return { running, heal: [] };
  const have = new Set(running.networks.map((n) => n.prefix));
  const heal: SpeakerChange[] = [];
  for (const [prefix, a] of Object.entries(state.announced ?? {})) {
    if (have.has(prefix) || !hostPrefixInside(prefix, vipPrefixes)) continue;
    if (scope === 'literals' && a.source !== 'literal') continue;
    const hold = Object.hasOwn(state.holds, prefix) ? state.holds[prefix] : undefined;
    const draining = hold?.drain !== undefined && Date.parse(hold.drain.until) > now.getTime() && a.routeMap === DRAIN_ROUTE_MAP;
    if (hold && !draining) continue;
    heal.push({ action: 'add', prefix, routeMap: a.routeMap });
  }
  if (heal.length === 0) return { running, heal };
  return { running: { ...running, networks: [...running.networks, ...heal.map((h) => ({ prefix: h.prefix, routeMap: h.routeMap }))] }, heal };
}

/**
 * One batch from the heal adds and the run's planned changes: a planned change of a healed prefix
 * replaces its heal add (an add with another route-map is sent as planned; a delete of a route the
 * speaker lost is sent as nothing: there is nothing to withdraw).
 */
export function mergeHealing(heal: readonly SpeakerChange[], planned: readonly SpeakerChange[]): SpeakerChange[] {
  const healed = new Set(heal.map((h) => h.prefix));
  const touched = new Set(planned.map((c) => c.prefix));
  return [...heal.filter((h) => !touched.has(h.prefix)), ...planned.filter((c) => !(c.action === 'delete' && healed.has(c.prefix)))];
}
