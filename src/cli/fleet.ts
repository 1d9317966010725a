// Fleet mode for the commands: opening the fleet store once per config, publishing after a run, the holds and guard a watchdog cycle needs, the operator's guard.
import { hostname } from 'node:os';
import { VipError } from '../core/errors.js';
import { fleetHoldsFor, guardMessage, hostRecord, lastDcGuard, withFleetHolds, withLeaving, type FleetHold, type HostRecord } from '../core/fleet.js';
import { hostPrefixInside } from '../core/policy.js';
import type { FleetCycleInput } from '../core/cycle.js';
import type { RunningBgp, State } from '../core/types.js';
import type { Config } from '../config/load.js';
import type { FleetStore } from '../adapters/etcd.js';
import type { Deps } from './context.js';
import { atCommandEnd } from './cleanup.js';

type FleetConfig = NonNullable<Config['fleet']>;

/** This host's name in the fleet: fleet.host, else the hostname (its first label kept whole: a
 *  host key is `<dc>/<host>`, and "/" cannot occur in a hostname). */
export function fleetHost(config: Config): string {
  return config.fleet?.host ?? hostname();
}

const stores = new WeakMap<Config, Promise<FleetStore>>();

/** The fleet store of this config, opened once (the daemon keeps it across cycles). */
export function fleetStore(config: Config): Promise<FleetStore> {
  const f = config.fleet;
  if (!f) throw new VipError('VIP_E_FLEET_NOT_CONFIGURED', 'fleet mode is not configured: add a fleet section to the config (see README "Fleet mode")');
  let s = stores.get(config);
  if (!s) {
    s = import('../adapters/etcd.js').then(({ openFleetStore }) => openFleetStore(f.etcd));
    stores.set(config, s);
    atCommandEnd(() => closeFleet(config));
    s.catch(() => stores.delete(config));
  }
  return s;
}

/** Close the store of CONFIG if one was opened (gRPC channels keep the process alive). */
export async function closeFleet(config: Config): Promise<void> {
  const s = stores.get(config);
  stores.delete(config);
  if (s) (await s.catch(() => null))?.close();
}

/**
 * Publish this host after a run (watchdog cycle, -a, -d). Never throws and never changes a route:
 * a failure is logged at warn, and the host's previous record expires with its lease.
 */
export async function publishHost(deps: Deps, by: string, running: Pick<RunningBgp, 'networks'>, state: Pick<State, 'holds' | 'watchdog' | 'fleet'>): Promise<{ bytes: number } | null> {
  const { config, log } = deps;
  if (!config.fleet || deps.opts.dryRun) return null;
  const rec: HostRecord = hostRecord({
    host: fleetHost(config),
    dc: config.dc,
    at: deps.clock.now(),
    by,
    running,
    state,
    fleetHolds: fleetHoldsFor(config.dc, state.fleet?.holds ?? []),
    inside: (p) => hostPrefixInside(p, config.vip_prefixes),
  });
  try {
    const r = await (await fleetStore(config)).publish(rec);
    log.debug({ bytes: r.bytes }, `published this host to the fleet (${r.bytes} bytes)`);
    return r;
  } catch (e) {
    const err = e instanceof VipError ? e : new VipError('VIP_E_FLEET_UNAVAILABLE', String(e));
    log.warn({ code: err.code }, `${err.message}; this host's fleet record was not updated (routes are not affected; it expires ${config.fleet.etcd.lease_ttl / 1000}s after the last publish that worked)`);
    return null;
  }
}

/** The fleet holds a cycle enforces, read BEFORE the run lock (a slow etcd never holds the lock). */
export async function readFleetHolds(deps: Deps): Promise<FleetHold[] | VipError | null> {
  if (!deps.config.fleet) return null;
  try {
    return await (await fleetStore(deps.config)).holds();
  } catch (e) {
    return e instanceof VipError ? e : new VipError('VIP_E_FLEET_UNAVAILABLE', String(e));
  }
}

/** The cycle's fleet input from what was read (or the cached holds when etcd failed), and the state's
 *  cache to write. Says once per cycle when it goes on with cached holds. */
export function fleetCycleInput(deps: Deps, read: FleetHold[] | VipError, state: State): { input: FleetCycleInput; cache: State['fleet'] } {
  const { config, log } = deps;
  if (read instanceof VipError) {
    const cached = state.fleet;
    log.warn(
      { code: read.code },
      `${read.message}; going on with the last known fleet holds (${cached ? `${cached.holds.filter((h) => h.dc === config.dc).length} for dc ${config.dc}, read ${cached.fetched}` : 'none known'}); no route changes because etcd is unreachable`,
    );
    return { input: { holds: fleetHoldsFor(config.dc, cached?.holds ?? []), guard: null }, cache: cached };
  }
  return { input: { holds: fleetHoldsFor(config.dc, read), guard: null }, cache: { holds: read, fetched: deps.clock.now().toISOString() } };
}

/** A withdrawal this run announced to the fleet (fleet.ts guardView); release() after the run has
 *  published its new record. Left alone (it expires with its lease) when that publish failed. */
export interface Leaving {
  release(): Promise<void>;
}

/**
 * What the last-DC guard sees. When this host is about to withdraw PREFIXES itself (BY: watchdog,
 * delete), first this run's intent is written to etcd (`leaving/<dc>/<host>`, unless --dry-run),
 * THEN the fleet is read, with the fleet holds and every other run's intent applied (core/fleet.ts
 * withLeaving). Two hosts that withdraw the same VIP at the same moment each write before they
 * read, so at least one of them sees the other leaving: the VIP is never withdrawn everywhere
 * because both decided on records from before the other decided. BY null: a read only (a fleet
 * hold, whose transaction checks that no intent appeared since).
 */
async function guardView(deps: Deps, prefixes: string[], by: string | null): Promise<{ hosts: HostRecord[]; revision: string; leaving: Leaving | null }> {
  const { config } = deps;
  const self = { dc: config.dc, host: fleetHost(config) };
  const store = await fleetStore(config);
  const leaving = by === null || deps.opts.dryRun ? null : await store.announceLeaving({ v: 1, ...self, prefixes: [...prefixes].sort(), at: deps.clock.now().toISOString(), by });
  try {
    const view = await store.view();
    return { hosts: withLeaving(withFleetHolds(view.hosts, view.holds), view.leaving, self), revision: view.revision, leaving };
  } catch (e) {
    await leaving?.release().catch(() => undefined);
    throw e;
  }
}

/** The guard's input for a cycle that plans health-driven withdrawals of PREFIXES: the published
 *  hosts, or `unknown` when etcd cannot say (then none of them happens); and this run's intent. */
export async function cycleGuard(deps: Deps, read: FleetHold[] | VipError, prefixes: string[]): Promise<{ guard: FleetCycleInput['guard']; leaving: Leaving | null }> {
  const { config } = deps;
  if (!config.fleet || config.fleet.guard === 'none') return { guard: null, leaving: null };
  if (read instanceof VipError) return { guard: { unknown: read.message }, leaving: null };
  try {
    const v = await guardView(deps, prefixes, 'watchdog');
    return { guard: { hosts: v.hosts, self: { dc: config.dc, host: fleetHost(config) } }, leaving: v.leaving };
  } catch (e) {
    return { guard: { unknown: (e as Error).message }, leaving: null };
  }
}

/**
 * The operator's last-DC guard, before anything changes: PREFIXES withdrawn by the hosts LEAVING
 * picks (this host for a local -d, every host of a DC for -d --dc). Throws VIP_E_POLICY_LAST_DC
 * (exit 5) naming VIPs and hosts, or VIP_E_FLEET_* (exit 8) when etcd cannot be read; --force skips
 * it with a warning that carries the reason.
 */
export async function operatorGuard(
  deps: Deps,
  prefixes: string[],
  leaving: (h: { dc: string; host: string }) => boolean,
  opts: { force: boolean; reason?: string; what: string; leavingAnnounces?: (p: string) => boolean; announce?: boolean },
): Promise<{ revision: string; leaving: Leaving | null } | null> {
  const { config, log } = deps;
  const f: FleetConfig | undefined = config.fleet;
  if (!f || f.guard === 'none' || prefixes.length === 0) return null;
  if (opts.force) {
    log.warn({ reason: opts.reason ?? '', prefixes }, `--force: the last-DC guard is not checked for ${opts.what} (${prefixes.join(', ')}); reason: ${opts.reason ?? '(none given)'}`);
    return null;
  }
  let view: Awaited<ReturnType<typeof guardView>>;
  try {
    // one linearizable read of everything, after this host's own intent when it withdraws itself
    // (announce: a local -d); its revision lets a fleet hold be set only if no other hold changed
    // and no withdrawal was announced since (two operators draining the last two DCs at once, or
    // an operator and a watchdog, cannot both pass)
    view = await guardView(deps, prefixes, opts.announce ? 'delete' : null);
  } catch (e) {
    const err = e instanceof VipError ? e : new VipError('VIP_E_FLEET_UNAVAILABLE', String(e));
    throw new VipError(err.code, `${err.message}. The last-DC guard cannot be checked, so nothing was changed; to withdraw without it: add --force --reason "..."`, err.details);
  }
  const refused = lastDcGuard(view.hosts, prefixes, leaving, opts.leavingAnnounces);
  if (refused.length > 0) {
    await view.leaving?.release().catch(() => undefined);
    throw new VipError('VIP_E_POLICY_LAST_DC', guardMessage(refused, 'Nothing was changed; --force overrides (the reason is logged).'), { prefixes: refused.map((r) => r.prefix) });
  }
  return { revision: view.revision, leaving: view.leaving };
}

/** The daemon's watch on the fleet holds: a change asks for a cycle at once (the same request as
 *  SIGUSR1), so every LB of a DC acts on a fleet hold within a cycle's time of it being set. */
export async function watchFleetHolds(deps: Deps, requestCycle: () => void): Promise<{ stop(): Promise<void> }> {
  if (!deps.config.fleet) return { stop: async () => undefined };
  const { log } = deps;
  const store = await fleetStore(deps.config);
  return store.watchHolds(
    (why) => {
      log.info({ fleet: why }, `${why}: running a cycle now`);
      requestCycle();
    },
    (e) => log.warn({ code: e.code }, `${e.message}; the watch is retried, and every cycle still reads the holds`),
  );
}

/**
 * The fleet holds as they are now, for commands that show or respect them (render, status, a local
 * -a): read from etcd, or the ones the watchdog cached in state when etcd cannot be read (said at
 * warn). Empty without fleet mode.
 */
export async function currentFleetHolds(deps: Deps, state: Pick<State, 'fleet'>): Promise<FleetHold[]> {
  if (!deps.config.fleet) return [];
  const read = await readFleetHolds(deps);
  if (read instanceof VipError) {
    deps.log.warn({ code: read.code }, `${read.message}; using the fleet holds last read by the watchdog (${state.fleet ? state.fleet.fetched : 'none known'})`);
    return state.fleet?.holds ?? [];
  }
  return read ?? [];
}
