// The watchdog's state machine: one pure step from the previous state and this cycle's observation.
import type { WatchdogStateName, WatchdogVipState } from './types.js';

export interface Observation {
  /** live real servers (or a service's check verdict, core/checks.ts), or null when not known: fail static */
  live: number | null;
  /** a maintenance hold exists for this VIP */
  held: boolean;
  /** the VIP's network statement is in the running config */
  configured: boolean;
}

export interface Policy {
  min: number; // withdraw when live < min
  restore: number; // restore when live >= restore (>= min: hysteresis)
  rise: number; // healthy cycles in a row before restoring
  fall: number; // unhealthy cycles in a row before withdrawing
}

export interface Decision {
  next: Pick<WatchdogVipState, 'state' | 'count' | 'live'>;
  action: 'add' | 'delete' | 'none';
  /** why, for logs: "held", "falling 1/2", ... */
  why: string;
}

/**
 * Up-side states (configured): up -> falling -> (withdraw) down. Down-side (not configured):
 * down -> rising -> (restore) up. A hold always wins and is enforced (a held VIP that reappears in
 * the config, e.g. after an FRR restart, is withdrawn again); an unreadable table changes nothing.
 */
export function decide(previous: Pick<WatchdogVipState, 'state' | 'count'> | undefined, obs: Observation, policy: Policy): Decision {
  const prevState: WatchdogStateName = previous?.state ?? 'unknown';
  const prevCount = previous?.count ?? 0;
  if (obs.held) {
    return { next: { state: 'held', count: 0, live: obs.live }, action: obs.configured ? 'delete' : 'none', why: 'held for maintenance' };
  }
  if (obs.live === null) {
    return { next: { state: 'unknown', count: 0, live: null }, action: 'none', why: 'liveness unknown (IPVS not read or not believed, or a check not run yet)' };
  }
  const live = obs.live;
  if (obs.configured) {
    if (live >= policy.min) return { next: { state: 'up', count: 0, live }, action: 'none', why: 'healthy' };
    const count = (prevState === 'falling' ? prevCount : 0) + 1;
    if (count >= policy.fall) return { next: { state: 'down', count: 0, live }, action: 'delete', why: `live ${live} < ${policy.min}` };
    return { next: { state: 'falling', count, live }, action: 'none', why: `falling ${count}/${policy.fall}` };
  }
  if (live < policy.restore) return { next: { state: 'down', count: 0, live }, action: 'none', why: `live ${live} < restore ${policy.restore}` };
  const count = (prevState === 'rising' ? prevCount : 0) + 1;
  if (count >= policy.rise) return { next: { state: 'up', count: 0, live }, action: 'add', why: `live ${live} >= ${policy.restore}` };
  return { next: { state: 'rising', count, live }, action: 'none', why: `rising ${count}/${policy.rise}` };
}
