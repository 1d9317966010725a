// "State is the source of truth" for speakers that keep no configuration (ExaBGP, GoBGP): what the announcement journal wants and the speaker lost, re-announced by every run.
//
// FRR and BIRD keep what was announced in their own (running) configuration; ExaBGP and GoBGP forget
// every route when they restart. For those, every run (-a, -d, the watchdog) first compares the
// journal (state.announced, written before the speaker is touched) with what the speaker reports:
// what is missing is re-announced in the same batch as the run's own changes, with the route-map
// the journal names. A held VIP is re-announced only while a graceful drain keeps it on VIP-DRAIN;
// a plain hold means withdrawn, and nothing outside vip_prefixes is ever touched.
import { DRAIN_ROUTE_MAP, hostPrefixInside } from './policy.js';
import type { RunningBgp, SpeakerChange, State } from './types.js';

export interface Healing {
  /** the running state as the run should plan on it: the lost announcements counted as present */
  running: RunningBgp;
  /** the adds that bring them back, for the same batch as the run's changes */
  heal: SpeakerChange[];
}

/** What the journal wants announced that RUNNING lacks. `now` decides whether a drain is still on. */
export function healLost(running: RunningBgp, state: Pick<State, 'announced' | 'holds'>, vipPrefixes: readonly string[], now: Date): Healing {
  const have = new Set(running.networks.map((n) => n.prefix));
  const heal: SpeakerChange[] = [];
  for (const [prefix, a] of Object.entries(state.announced ?? {})) {
    if (have.has(prefix) || !hostPrefixInside(prefix, vipPrefixes)) continue;
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
