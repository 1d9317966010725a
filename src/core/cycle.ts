// One watchdog cycle as a pure function: what was read in, what to change, the next state and what to log.
//
// cli/watchdog.ts only reads the inputs (DNS before the lock; state, IPVS and the speaker under
// it), writes the returned state, then applies the returned changes in ONE speaker call. Every
// decision lives here: which IPVS table to believe (SPEC "Trusting inputs"), which VIPs to watch
// (policy.ts), holds, the per-VIP state machine (decide.ts), what this tool announced and must
// not orphan.
import { decide, type Policy as DecidePolicy } from './decide.js';
import { liveText, vipLive, type CheckResults } from './checks.js';
import { VipError } from './errors.js';
import type { IpvsTable } from './ipvs.js';
import { ipvsVips, liveCounts, type LiveCount } from './live.js';
import { dcPolicy, DRAIN_ROUTE_MAP, hostPrefixInside, outsidePrefixes, sortedTargets, type DcPolicy, type Target } from './policy.js';
import { sortByVip, toVip } from './prefix.js';
import type { Announcement, Hold, IpvsTrust, LogFields, ResolvedName, RunningBgp, SpeakerChange, State, Vip, WatchdogStateName, WatchdogVipState } from './types.js';
import type { Config } from '../config/load.js';
import { guardMessage, lastDcGuard, type HostRecord } from './fleet.js';

export type CycleConfig = Pick<Config, 'dc' | 'services' | 'vip_prefixes' | 'watchdog'>;

export interface CycleInput {
  config: CycleConfig;
  /** the services' answers, fresh or from the cache; a service missing here is unresolved */
  resolved: ResolvedName[];
  /** the parsed table, or why it could not be read (malformed, missing, timed out); null when no
   *  service's liveness comes from IPVS (core/checks.ts needsIpvs), so it was not read */
  ipvs: IpvsTable | VipError | null;
  /** the services' host health check outcomes (live_from: checks | both); absent: none */
  checks?: CheckResults;
  running: RunningBgp;
  state: State;
  now: Date;
  /** fleet mode (core/fleet.ts); absent: everything stays local */
  fleet?: FleetCycleInput;
}

/** What the fleet adds to a cycle: the fleet holds that bind this DC (from etcd, or the cached ones
 *  when etcd is unreachable) and what the last-DC guard knows. */
export interface FleetCycleInput {
  /** keyed by prefix; a local hold of the same prefix wins (its reason is shown) */
  holds: Record<string, Hold>;
  /** null: fleet.guard none. `unknown`: etcd could not be read, so the guard cannot be checked and
   *  no health-driven withdrawal happens (kept, demoted where VIP-DRAIN exists). Else the published
   *  hosts (leases alive) and who this host is. */
  guard: null | { unknown: string } | { hosts: HostRecord[]; self: { dc: string; host: string } };
}

/** One VIP of the cycle, for logs, --json, metrics. */
export interface CycleRow {
  vip: Vip;
  names: string[];
  action: 'add' | 'delete' | 'none';
  why: string;
  /** live real servers as believed this cycle (null: IPVS not read or not believed); for a
   *  service with live_from checks/both, the combination of core/checks.ts vipLive */
  live: number | null;
  /** the failing host health checks behind the VIP, "LABEL: why" (absent: none use checks) */
  failing?: string[];
  state: WatchdogStateName;
  /** route-map announced with (add) or configured (delete, none) */
  routeMap: string | null;
  /** the SPEC log line of a change */
  line?: string;
}

export interface CycleEvent {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: LogFields;
  msg: string;
}

export interface CyclePlan {
  rows: CycleRow[];
  /** every change of the cycle, for ONE speaker call */
  changes: SpeakerChange[];
  /** the state to write BEFORE the speaker is touched */
  state: State;
  events: CycleEvent[];
  /** what makes the cycle's exit code non-zero */
  errors: VipError[];
  policy: DcPolicy;
  /** health-driven withdrawals the last-DC guard must see (fleet.guard last_dc): planned again with
   *  the published hosts when not empty, so a quiet cycle never reads them */
  guardNeeded: string[];
}

const IMPLAUSIBLE_SHARE = 0.5; // SPEC: "lost more than half of its virtual services"

/** Why a table is implausible, null when it is believable at once. */
export function implausible(total: number, previous: IpvsTrust | undefined): string | null {
  // an empty table is news only when the last believed one was not empty
  if (total === 0 && (previous === undefined || previous.services > 0)) return 'it lists no virtual service (empty or headers only: keepalived restarting?)';
  if (previous && previous.services > 0 && previous.services - total > previous.services * IMPLAUSIBLE_SHARE) {
    return `it lost ${previous.services - total} of the ${previous.services} virtual services of the last believed cycle`;
  }
  return null;
}

export function planCycle(input: CycleInput): CyclePlan {
  const { config, running, state, now } = input;
  const wd = config.watchdog;
  const settle = wd.settle;
  const events: CycleEvent[] = [];
  const errors: VipError[] = [];
  const warn = (msg: string, fields: LogFields = {}) => events.push({ level: 'warn', fields, msg });

  // 1. Which IPVS table to believe.
  let table: IpvsTable | null = null;
  let trust: IpvsTrust | undefined = state.ipvs;
  // a table believed after `settle` doubted cycles has served the per-VIP settle time too
  let settled = false;
  if (input.ipvs === null) {
    // no service reads IPVS (live_from: checks): nothing to believe or doubt, the trust stays
  } else if (input.ipvs instanceof VipError) {
    errors.push(input.ipvs);
    events.push({ level: 'error', fields: { code: input.ipvs.code }, msg: `${input.ipvs.message}; changing nothing (fail static)` });
  } else {
    for (const w of input.ipvs.warnings) warn(`IPVS table: ${w}`);
    const total = input.ipvs.services.length;
    const why = implausible(total, state.ipvs);
    const distrusted = state.ipvs?.distrusted ?? 0;
    if (why && distrusted < settle) {
      trust = { services: state.ipvs?.services ?? 0, distrusted: distrusted + 1 };
      const err = new VipError(
        'VIP_E_IPVS_IMPLAUSIBLE',
        `IPVS table not believed (${distrusted + 1}/${settle}): ${why}; changing nothing unless it stays so for ${settle} cycles`,
        { reason: why },
      );
      errors.push(err);
      warn(err.message, { code: err.code });
    } else {
      if (why) warn(`IPVS table believed after ${settle} cycles: ${why}`);
      settled = why !== null;
      table = input.ipvs;
      trust = { services: total, distrusted: 0 };
    }
  }

  // 2. What this DC announces. While the table is not believed, discovered VIPs are the ones this
  //    tool announced: a doubtful table must not make them look orphaned.
  const announced = state.announced ?? {};
  const discovered = !wd.discover
    ? []
    : table
      ? ipvsVips(table)
      : Object.entries(announced)
          .filter(([, a]) => a.source === 'discover')
          .map(([p]) => p.split('/')[0]!);
  const policy = dcPolicy(config, config.dc, input.resolved, discovered);
  for (const e of policy.errors) warn(`${e.message}: not watched`, { vip: e.details.vip, code: e.code });

  const conf = new Map(running.networks.map((n) => [n.prefix, n.routeMap]));
  const routeMaps = new Set(running.routeMaps);
  const targets = sortedTargets(policy);
  const counts: Map<string, LiveCount> | null = table
    ? liveCounts(
        table,
        targets.map((t) => t.vip.address),
        { fwmarks: wd.fwmarks, exclude: wd.exclude_realservers },
      )
    : null;

  // whether counting may go on: IPVS believed, or not needed at all
  const ipvsKnown = table !== null || input.ipvs === null;
  const services = new Map(config.services.map((s) => [s.name, s]));
  const checkResults: CheckResults = input.checks ?? new Map();
  const rows: CycleRow[] = [];
  const nextWatchdog: Record<string, WatchdogVipState> = ipvsKnown ? {} : { ...state.watchdog };
  const since = (p: string, s: WatchdogStateName) => (state.watchdog[p]?.state === s ? state.watchdog[p]!.since : now.toISOString());
  const fleetHolds = input.fleet?.holds ?? {};
  /** local or fleet: a hold is a hold; a local one wins where both exist (its drain, its reason) */
  const holdOf = (p: string): Hold | undefined => (Object.hasOwn(state.holds, p) ? state.holds[p] : Object.hasOwn(fleetHolds, p) ? fleetHolds[p] : undefined);
  const held = (p: string) => holdOf(p) !== undefined;
  /** health-driven withdrawals, for the last-DC guard (holds always win; orphans follow the config) */
  const guarded = new Set<string>();
  const demote = wd.down_action === 'demote';
  const canDrain = routeMaps.has(DRAIN_ROUTE_MAP);
  /** A graceful drain still in its first stage (announced with VIP-DRAIN until its deadline). */
  const draining = (p: string) => {
    const d = Object.hasOwn(state.holds, p) ? state.holds[p]!.drain : undefined;
    return d && Date.parse(d.until) > now.getTime() ? d : undefined;
  };
  /** What a hold wants of a VIP: during a graceful drain, announced with VIP-DRAIN; else withdrawn. */
  const holdChange = (vip: Vip, p: string): Pick<CycleRow, 'action' | 'why' | 'routeMap' | 'line'> => {
    const rm = conf.get(p) ?? null;
    const d = draining(p);
    if (d) {
      const why = `graceful drain until ${d.until}`;
      if (conf.has(p) && rm !== DRAIN_ROUTE_MAP && canDrain) return { action: 'add', why, routeMap: DRAIN_ROUTE_MAP, line: `${vip.address} is draining until ${d.until} > demote route` };
      return { action: 'none', why, routeMap: rm };
    }
    if (!conf.has(p)) return { action: 'none', why: 'held for maintenance', routeMap: null };
    const finished = state.holds[p]?.drain ? 'graceful drain finished' : Object.hasOwn(state.holds, p) ? 'held for maintenance' : `fleet hold on dc ${config.dc}: ${holdOf(p)!.reason}`;
    return { action: 'delete', why: finished, routeMap: rm, line: `${vip.address} is held for maintenance > delete route` };
  };

  // 3. Every target through the state machine.
  for (const t of targets) {
    const p = t.vip.prefix;
    const prev = state.watchdog[p];
    let live: number | null = null;
    let ipvsServices = prev?.services;
    let gone: number | undefined;
    const claimants = t.names.flatMap((n) => services.get(n) ?? []);
    const usesIpvs = claimants.length === 0 || claimants.some((s) => s.live_from !== 'checks');
    if (counts && usesIpvs) {
      const c = counts.get(t.vip.address) ?? { live: 0, services: 0 };
      if (c.services === 0 && (prev?.services ?? 0) > 0 && (prev?.gone ?? 0) < settle && !settled) {
        gone = (prev?.gone ?? 0) + 1;
        const err = new VipError(
          'VIP_E_IPVS_IMPLAUSIBLE',
          `the virtual services of ${t.vip.address} vanished from IPVS; not believed (${gone}/${settle}), changing nothing for it`,
          { vip: t.vip.address },
        );
        errors.push(err);
        warn(err.message, { vip: t.vip.address, code: err.code });
      } else {
        live = c.live;
        ipvsServices = c.services;
      }
    }
    const lv = vipLive(claimants, live, checkResults);
    live = lv.live;
    const policy: DecidePolicy = { min: t.thresholds.min, restore: t.thresholds.restore, rise: wd.rise, fall: wd.fall };
    const rm = conf.get(p) ?? null;
    // a demoted VIP (announced with VIP-DRAIN) is on the down side: restoring it is an add
    const decided = decide(prev, { live, held: held(p), configured: conf.has(p) && rm !== DRAIN_ROUTE_MAP }, policy);
    // say which input was not trusted, not only that liveness is unknown
    const unknownWhy =
      gone !== undefined ? `virtual services vanished, not believed (${gone}/${settle})`
      : usesIpvs && input.ipvs instanceof VipError ? 'IPVS unreadable'
      : usesIpvs && counts === null ? 'IPVS table not believed'
      : null;
    const d = live === null && !held(p) && unknownWhy ? { ...decided, why: unknownWhy } : decided;
    let change: Pick<CycleRow, 'action' | 'why' | 'routeMap' | 'line'>;
    const counted = () => liveText(t.vip.address, lv); // for a change's log line only
    if (held(p)) change = holdChange(t.vip, p);
    else if (d.action === 'add') change = { action: 'add', why: d.why, routeMap: t.routeMap, line: `${counted()} > add route` };
    else if (d.action === 'delete' && demote && canDrain) {
      change = { action: 'add', why: `${d.why}: demoted`, routeMap: DRAIN_ROUTE_MAP, line: `${counted()} > demote route` };
    } else if (d.action === 'delete') {
      if (demote) {
        const err = new VipError('VIP_E_POLICY_ROUTEMAP', `route-map ${DRAIN_ROUTE_MAP} does not exist: withdrawing ${p} instead of demoting it (load the rendered snippet)`, { vip: t.vip.address });
        errors.push(err);
        events.push({ level: 'error', fields: { vip: t.vip.address, code: err.code }, msg: err.message });
      }
      change = { action: 'delete', why: d.why, routeMap: rm, line: `${counted()} > delete route` };
      guarded.add(p);
    } else if (rm === DRAIN_ROUTE_MAP && !demote && d.next.state === 'down') {
      change = { action: 'delete', why: `${d.why}; demoted, and down_action is withdraw`, routeMap: rm, line: `${counted()} > delete route` };
      guarded.add(p);
    } else change = { action: 'none', why: d.why, routeMap: rm };
    if (change.action === 'add' && change.routeMap && !routeMaps.has(change.routeMap)) {
      const err = new VipError('VIP_E_POLICY_ROUTEMAP', `route-map ${change.routeMap} does not exist: not announcing ${p} (load the rendered snippet)`, { vip: t.vip.address });
      errors.push(err);
      events.push({ level: 'error', fields: { vip: t.vip.address, code: err.code }, msg: err.message });
      change = { action: 'none', why: `route-map ${change.routeMap} missing`, routeMap: rm };
    }
    const row: CycleRow = { vip: t.vip, names: t.names, live: d.next.live, state: d.next.state, ...change, ...(lv.usesChecks ? { failing: lv.failing } : {}) };
    rows.push(row);
    nextWatchdog[p] = {
      ...d.next,
      since: since(p, d.next.state),
      ...(ipvsServices !== undefined ? { services: ipvsServices } : {}),
      ...(gone !== undefined ? { gone } : {}),
      ...(lv.usesChecks && lv.failing.length > 0 ? { failing: lv.failing } : {}),
    };
  }

  // 3b. The last-DC guard: a health-driven withdrawal that would leave a VIP announced by no healthy
  //     host anywhere keeps the route, demoted with VIP-DRAIN where it exists, and is an error.
  const guard = input.fleet?.guard ?? null;
  if (guard && guarded.size > 0) {
    const refused =
      'unknown' in guard
        ? [...guarded].sort().map((prefix) => ({ prefix, leaving: [], others: [] }))
        : lastDcGuard(guard.hosts, [...guarded], (h) => h.dc === guard.self.dc && h.host === guard.self.host, () => true);
    if (refused.length > 0) {
      const kept = new Set(refused.map((r) => r.prefix));
      for (const [i, r] of rows.entries()) {
        if (!kept.has(r.vip.prefix) || r.action !== 'delete') continue;
        const rm = conf.get(r.vip.prefix) ?? null;
        const why = 'unknown' in guard ? 'fleet guard cannot be checked (etcd unreachable): kept' : 'last healthy announcer in the fleet: kept';
        rows[i] =
          canDrain && rm !== DRAIN_ROUTE_MAP
            ? { ...r, action: 'add', routeMap: DRAIN_ROUTE_MAP, why: `${r.why}; ${why}, demoted`, line: `${r.line!.replace(/ > delete route$/, '')} > demote route (${why})` }
            : { ...r, action: 'none', routeMap: rm, why: `${r.why}; ${why}`, line: undefined };
      }
      const how = canDrain ? 'Kept, demoted with route-map VIP-DRAIN.' : `Kept announced (route-map ${DRAIN_ROUTE_MAP} does not exist to demote it).`;
      const err =
        'unknown' in guard
          ? new VipError('VIP_E_FLEET_UNAVAILABLE', `${guard.unknown}: the last-DC guard cannot be checked, so ${[...kept].join(', ')} ${kept.size === 1 ? 'is' : 'are'} not withdrawn. ${how}`, { prefixes: [...kept] })
          : new VipError('VIP_E_POLICY_LAST_DC', guardMessage(refused, how), { prefixes: [...kept] });
      errors.push(err);
      events.push({ level: 'error', fields: { code: err.code, dc: config.dc }, msg: err.message });
    }
  }

  // 4. What is configured but no longer a target: holds always win; what this tool announced is
  //    withdrawn once it has stayed out of the policy for `settle` believed cycles (never orphaned).
  const isTarget = (p: string) => policy.targets.has(p);
  const inside = (p: string) => hostPrefixInside(p, config.vip_prefixes);
  for (const p of new Set([...Object.keys(state.holds), ...Object.keys(fleetHolds)])) {
    if (isTarget(p) || !conf.has(p) || !inside(p)) continue;
    const vip = toVip(p.split('/')[0]!);
    const change = holdChange(vip, p);
    if (change.action !== 'none') rows.push({ vip, names: holdOf(p)!.names, live: null, state: 'held', ...change });
  }
  let unresolvedSaid = false;
  for (const p of Object.keys(announced)) {
    const a = announced[p]!;
    if (isTarget(p) || a.source === 'literal' || !conf.has(p) || held(p) || !inside(p)) continue;
    if (!ipvsKnown) continue; // counting pauses while IPVS is not believed (nextWatchdog kept everything)
    if (policy.unresolved.length > 0) {
      if (!unresolvedSaid) warn(`${policy.unresolved.join(', ')} did not resolve: VIPs no longer in the policy are left as they are this cycle`);
      unresolvedSaid = true;
      if (state.watchdog[p]) nextWatchdog[p] = state.watchdog[p]!;
      continue;
    }
    const vip = toVip(p.split('/')[0]!);
    const why =
      policy.excluded.get(p)?.why ?? (a.source === 'discover' ? 'its IPVS virtual services are gone' : 'no configured service resolves to it any more');
    const gone = settled && a.source === 'discover' ? settle + 1 : (state.watchdog[p]?.gone ?? 0) + 1;
    if (gone <= settle) {
      warn(`${vip.address} is no longer announced from dc ${config.dc} (${why}); withdrawing it if that holds for ${settle} cycles (${gone}/${settle})`, { vip: vip.address });
      nextWatchdog[p] = { state: state.watchdog[p]?.state ?? 'unknown', count: 0, live: null, since: state.watchdog[p]?.since ?? now.toISOString(), gone };
      continue;
    }
    const line = a.source === 'discover' ? `0 realservers available behind ${vip.address} > delete route` : `${vip.address} is no longer announced from dc ${config.dc} (${why}) > delete route`;
    rows.push({ vip, names: [], action: 'delete', why, live: a.source === 'discover' ? 0 : null, state: 'down', routeMap: conf.get(p) ?? null, line });
  }

  // 5. One batch, re-checked at the speaker boundary.
  let changes: SpeakerChange[] = rows.filter((r) => r.action !== 'none').map((r) => ({ action: r.action as 'add' | 'delete', prefix: r.vip.prefix, routeMap: r.routeMap }));
  const bad = new Set(outsidePrefixes(changes, config.vip_prefixes).map((c) => c.prefix));
  if (bad.size > 0) {
    for (const p of bad) errors.push(new VipError('VIP_E_POLICY_PREFIX', `${p} is outside vip_prefixes: not touched`, { vip: p.split('/')[0] }));
    changes = changes.filter((c) => !bad.has(c.prefix));
  }
  for (const r of rows) {
    if (r.action === 'none' || bad.has(r.vip.prefix)) continue;
    events.push({
      level: 'info',
      fields: { vip: r.vip.address, prefix: r.vip.prefix, action: r.action, live: r.live, service: r.names.join(','), dc: config.dc, reason: r.why, ...(r.failing?.length ? { checks: r.failing.join('; ') } : {}) },
      msg: r.line!,
    });
  }

  // 6. The announcement journal: what this tool wants announced, written before the speaker.
  const nextAnnounced: Record<string, Announcement> = {};
  const sourceOf = (t: Target | undefined) => t?.source ?? 'service';
  for (const p of conf.keys()) {
    const rm = conf.get(p)!;
    if (changes.some((c) => c.prefix === p && c.action === 'delete')) continue;
    if (announced[p]) nextAnnounced[p] = announced[p]!;
    else if (isTarget(p)) nextAnnounced[p] = { routeMap: rm ?? policy.targets.get(p)!.routeMap, source: sourceOf(policy.targets.get(p)), since: now.toISOString() };
  }
  for (const c of changes) {
    if (c.action === 'add') nextAnnounced[c.prefix] = { routeMap: c.routeMap!, source: sourceOf(policy.targets.get(c.prefix)), since: now.toISOString() };
  }

  // A graceful drain whose deadline passed is over: its hold stays, a plain one now.
  const holds: State['holds'] = { ...state.holds };
  for (const [p, h] of Object.entries(state.holds)) {
    if (!h.drain || draining(p)) continue;
    const withdrawn = !conf.has(p) || changes.some((c) => c.prefix === p && c.action === 'delete');
    if (!withdrawn) continue; // stays a drain until its withdraw is sent
    events.push({ level: 'info', fields: { prefix: p, reason: h.reason }, msg: `graceful drain of ${p} finished (deadline ${h.drain.until})` });
    const { drain: _done, ...plain } = h;
    holds[p] = plain;
  }

  const nextState: State = {
    ...state,
    holds,
    watchdog: byKey(nextWatchdog),
    announced: byKey(nextAnnounced),
    ...(trust ? { ipvs: trust } : {}),
  };
  return { rows: sortByVip(rows, (r) => r.vip), changes, state: nextState, events, errors, policy, guardNeeded: [...guarded].sort() };
}

/** RECORD with its keys in code-unit order, for a state file that diffs cleanly (the default sort,
 *  no comparator: 1,250 VIPs twice a cycle, before anything is optimised). */
function byKey<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]!]));
}
