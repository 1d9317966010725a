// `add` / `delete` (-a / -d) and the locked steps of a graceful drain: resolve -> policy -> lock -> plan -> dry-run stop -> state -> ONE apply -> read back -> verify.
import { EXIT, VipError, isVipError } from '../core/errors.js';
import { missingRouteMaps, planAdd, planDelete, planDrain, speakerChanges, verify, type PlannedChange, type Verdict } from '../core/plan.js';
import { dcPolicy, DRAIN_ROUTE_MAP, serviceKey, targetsFor, type Target } from '../core/policy.js';
import { cacheFresh, fromCache } from '../core/dnscache.js';
import { clearHolds, setHolds } from '../core/state.js';
import { HEAL_REASON, healLost, healReason, healScope, mergeHealing } from '../core/journal.js';
import type { Hold, Log, PrefixState, ResolvedName, RunningBgp, Speaker, SpeakerChange, State } from '../core/types.js';
import type { Deps } from './context.js';

export interface ChangeOptions {
  reason?: string;
  by: string;
  /** how long to wait for another run's lock before giving up with exit 75 */
  lockWaitMs: number;
  /** a fleet hold of this host's own DC (-d/-a NAME --dc DC): the hold lives in etcd, not in local
   *  state; an add leaves a VIP with a local hold alone (the local hold still wins) */
  fleetOnly?: boolean;
}

export interface ChangeRow {
  vip: string;
  prefix: string;
  action: PlannedChange['action'];
  reason: string;
  verified: boolean;
  routeMap: string | null;
  names: string[];
  problem?: string;
}

const errorJson = (e: VipError) => ({
  code: e.code,
  message: e.message,
  ...(typeof e.details.vip === 'string' ? { vip: e.details.vip } : {}),
});

/** Resolve every name; all of them must succeed before anything is changed. */
export async function resolveAll(deps: Pick<Deps, 'resolver'>, names: string[]): Promise<{ resolved: ResolvedName[]; errors: VipError[] }> {
  const results = await Promise.allSettled(names.map((n) => deps.resolver.resolve(n)));
  const resolved: ResolvedName[] = [];
  const errors: VipError[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') resolved.push(r.value);
    else errors.push(isVipError(r.reason) ? r.reason : new VipError('VIP_E_FAILED', `${names[i]}: ${String(r.reason)}`));
  });
  return { resolved, errors };
}

/** Read back until every change verifies or the deadline passes (bgpd applies asynchronously: a
 *  withdrawn network left the lab's BGP table 60-80 ms after `no network` returned, bgpd's route
 *  processing queue running after a hold). Every 10 ms for the first 200 ms, then doubling to
 *  400 ms: over bgpd's vty socket a read-back of a few prefixes costs ~1 ms, so polling often is
 *  cheap, where one vtysh per read-back made a 50 ms first wait the better deal. */
export async function readBack(
  speaker: Speaker,
  plan: PlannedChange[],
  intent: 'add' | 'delete' | ((c: PlannedChange) => 'add' | 'delete'),
  timeoutMs: number,
): Promise<{ verdicts: Verdict[]; running: RunningBgp; table: Map<string, PrefixState> }> {
  const start = Date.now();
  const deadline = start + timeoutMs;
  const intentOf = typeof intent === 'function' ? intent : () => intent;
  // A big batch: a full read-back asks bgpd for every prefix's detail (1000: ~50 ms of bgpd's
  // time, and the first one came too early in the lab), so first wait, one lookup at a time (~1 ms),
  // until the prefix bgpd got last looks done. The verdicts still come from one full read-back.
  const changed = plan.filter((c) => c.action !== 'none');
  const probe = changed.length >= 50 ? (changed.filter((c) => c.vip.family === 6).at(-1) ?? changed.at(-1)) : undefined;
  for (let delay = 10; ; delay = Date.now() - start < 200 ? 10 : Math.min(delay * 2, 400)) {
    if (probe && Date.now() < deadline) {
      const st = (await speaker.lookup([probe.vip.prefix])).get(probe.vip.prefix);
      if (intentOf(probe) === 'add' ? !st?.inTable || !st.valid : st?.inTable) {
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
    }
    const prefixes = plan.map((c) => c.vip.prefix);
    const { running, table } = speaker.snapshot ? await speaker.snapshot(prefixes) : { running: await speaker.readRunning(), table: await speaker.lookup(prefixes) };
    const verdicts = plan.map((c) => verify(intentOf(c), c, running, table.get(c.vip.prefix)));
    if (verdicts.every((v) => v.verified) || Date.now() >= deadline) return { verdicts, running, table };
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** What one locked step does: announce (-a), withdraw (-d), the first stage of a graceful drain
 *  (re-announce with VIP-DRAIN until `until`) or its second (withdraw what is still draining). */
export type Step = { kind: 'add' } | { kind: 'delete' } | { kind: 'drain'; until: string } | { kind: 'finish' };

export interface StepResult {
  rows: ChangeRow[];
  errors: VipError[];
  code: number;
}

/** Print a run's rows (or its JSON) and errors; returns CODE. */
export function report(deps: Deps, rows: ChangeRow[], errors: VipError[], code: number): number {
  const { out, log } = deps;
  if (deps.opts.json) {
    out.json({
      changes: rows.map(({ vip, prefix, action, reason: r, verified }) => ({ vip, prefix, action, reason: r, verified })),
      errors: errors.map(errorJson),
    });
  } else {
    for (const r of rows) {
      const state = deps.opts.dryRun ? 'planned' : r.verified ? 'verified' : 'NOT VERIFIED';
      out.data(`${r.prefix.padEnd(24)} ${r.action.padEnd(6)} ${(r.routeMap ?? '-').padEnd(12)} ${state.padEnd(12)} ${r.names.join(',')}  ${r.problem ?? r.reason}`);
    }
    for (const e of errors) log.error({ code: e.code, ...e.details }, e.message);
  }
  return code;
}

const failed = (errors: VipError[]): StepResult => ({ rows: [], errors, code: errors.every((e) => e.exit === errors[0]!.exit) ? errors[0]!.exit : EXIT.FAILED });

/** DNS and policy, before any lock: the targets of NAMES, or why the run is refused. */
export async function targetsOf(deps: Deps, names: string[], intent: 'add' | 'delete'): Promise<{ targets: Target[]; resolved: ResolvedName[] } | StepResult> {
  const { config } = deps;
  if (names.length === 0) throw new VipError('VIP_E_USAGE', `${intent} needs at least one NAME`);
  const { resolved, errors: dnsErrors } = await resolveAll(deps, names);
  if (dnsErrors.length > 0) return failed(dnsErrors);
  const policy = dcPolicy(config, config.dc, await servicesFor(deps, resolved));
  const { targets, errors } = targetsFor(config, policy, resolved, intent);
  if (errors.length > 0) return failed(errors);
  return { targets, resolved };
}

export async function changeCommand(deps: Deps, intent: 'add' | 'delete', names: string[], opts: ChangeOptions): Promise<number> {
  const t = await targetsOf(deps, names, intent);
  const r = 'code' in t ? t : await step(deps, t.targets, t.resolved, { kind: intent }, opts);
  return report(deps, r.rows, r.errors, r.code);
}

/**
 * One locked step: speaker read -> plan -> route-maps refused when missing -> --dry-run stops ->
 * state first (holds, drains, the announcement journal) -> ONE apply, if the lock is still ours ->
 * read back and verify every VIP, no-ops included.
 */
export async function step(deps: Deps, targets: Target[], resolved: ResolvedName[], what: Step, opts: ChangeOptions): Promise<StepResult> {
  const { config, speaker, store, log } = deps;
  const asn = config.datacenters[config.dc]!.asn;
  const reason = opts.reason ?? (what.kind === 'add' ? 'restore' : 'maintenance');
  const lock = deps.opts.dryRun ? null : await store.lock({ waitMs: opts.lockWaitMs });
  try {
    const reported = await speaker.readRunning();
    if (reported.asn === null) {
      throw new VipError('VIP_E_SPEAKER_NO_BGP', `the speaker has no "router bgp" configured; load the rendered snippet first (vip-mgmt render)`);
    }
    if (reported.asn !== asn) {
      throw new VipError('VIP_E_CONFIG_ASN', `the speaker runs "router bgp ${reported.asn}" but datacenters.${config.dc}.asn is ${asn}; fix the config`);
    }
    let state = await store.read();
    // after a speaker restart (ExaBGP/GoBGP: every route; FRR/Quagga: literal addresses) what the
    // journal wants and it lost goes back in this run's batch, and the plan sees it as announced
    // (core/journal.ts)
    const { running, heal } = healLost(reported, state, config.vip_prefixes, deps.clock.now(), healScope(config.bgp.speaker, Boolean(speaker.stateless)));
    // the second stage withdraws only what is still draining: -a meanwhile cancelled the rest, and a
    // watchdog cycle past the deadline may have finished it already
    const mine =
      what.kind === 'finish' ? targets.filter((t) => state.holds[t.vip.prefix]?.drain)
      : what.kind === 'add' && opts.fleetOnly ? targets.filter((t) => !Object.hasOwn(state.holds, t.vip.prefix))
      : targets;
    const plan =
      what.kind === 'add' ? planAdd(mine, running) : what.kind === 'drain' ? planDrain(mine, running, `graceful drain until ${what.until}`) : planDelete(mine, running, reason);
    const missing = missingRouteMaps(plan, running);
    if (missing.length > 0) {
      return failed(
        missing.map(
          (m) =>
            new VipError(
              'VIP_E_POLICY_ROUTEMAP',
              `route-map ${m} does not exist in the running config; FRR would silently ignore the network statement. Load the rendered snippet (vip-mgmt render) first${m === DRAIN_ROUTE_MAP ? ', or drain without --graceful' : ''}`,
              { routeMap: m },
            ),
        ),
      );
    }
    const rowsOf = (verdicts?: Verdict[]): ChangeRow[] =>
      plan.map((c, i) => ({
        vip: c.vip.address,
        prefix: c.vip.prefix,
        action: c.action,
        reason: c.reason,
        routeMap: c.routeMap,
        names: c.names,
        verified: verdicts?.[i]?.verified ?? false,
        problem: verdicts?.[i]?.problem,
      }));
    if (deps.opts.dryRun) {
      // what the run would also re-announce for a stateless speaker that lost it (the real run logs it)
      const touched = new Set(plan.map((c) => c.vip.prefix));
      const healRows = heal
        .filter((h) => !touched.has(h.prefix))
        .map((h): ChangeRow => ({ vip: h.prefix.split('/')[0]!, prefix: h.prefix, action: 'add', reason: healReason(true), routeMap: h.routeMap, names: [], verified: false }));
      return { rows: [...rowsOf(), ...healRows], errors: [], code: EXIT.OK };
    }

    // State first, speaker second: the hold is set (delete, drain) or cleared (add), and the
    // journal updated before the speaker is touched, so a crash in between never lets the watchdog
    // undo the operator, and a state write that fails (full disk) changes nothing.
    const now = deps.clock.now().toISOString();
    const prefixes = mine.map((t) => t.vip.prefix);
    const announced = { ...(state.announced ?? {}) };
    const hold = { reason, by: opts.by, since: now, names: resolved.map((r) => r.name) };
    if (what.kind === 'add') {
      if (!opts.fleetOnly) state = clearHolds(state, prefixes);
      for (const t of mine) announced[t.vip.prefix] = { routeMap: t.routeMap, source: t.source, since: announced[t.vip.prefix]?.since ?? now };
    } else if (what.kind === 'drain') {
      state = setHolds(state, prefixes, { ...hold, drain: { until: what.until } });
      for (const c of plan) if (c.routeMap === DRAIN_ROUTE_MAP && announced[c.vip.prefix]) announced[c.vip.prefix] = { ...announced[c.vip.prefix]!, routeMap: DRAIN_ROUTE_MAP };
    } else {
      // delete: a plain hold (a drain in progress ends now); finish: the drain's hold, made plain
      state = what.kind === 'delete' ? (opts.fleetOnly ? state : setHolds(state, prefixes, hold)) : { ...state, holds: Object.fromEntries(Object.entries(state.holds).map(([p, h]) => [p, prefixes.includes(p) ? withoutDrain(h) : h])) };
      for (const p of prefixes) delete announced[p];
    }
    await store.write({ ...state, announced }, lock!);

    const changes = mergeHealing(heal, speakerChanges(plan));
    if (heal.length > 0) logHealing(log, heal);
    for (const c of plan.filter((p) => p.action !== 'none')) {
      const fields = { vip: c.vip.address, prefix: c.vip.prefix, action: c.action, service: c.names.join(','), dc: config.dc, reason: c.reason };
      log.info(fields, c.routeMap === DRAIN_ROUTE_MAP && c.action === 'add' ? `Draining route to ${c.vip.prefix}` : `${c.action === 'add' ? 'Adding' : 'Deleting'} route to ${c.vip.prefix}`);
    }
    if (changes.length > 0) {
      await lock!.assertHeld();
      try {
        await speaker.apply(asn, changes);
      } catch (e) {
        if (isVipError(e)) {
          log.warn(
            {},
            what.kind === 'add'
              ? 'the maintenance hold is cleared, but the announce failed: run vip-mgmt -a again once the speaker is fixed'
              : 'the maintenance hold is set, but the speaker change failed: run vip-mgmt -d again once the speaker is fixed',
          );
        }
        throw e;
      }
    }

    // a drain verifies VIP-DRAIN where the VIP was announced, and that it stayed off where it was not
    const intent = what.kind === 'add' ? 'add' : what.kind === 'drain' ? (c: PlannedChange) => (c.routeMap === null ? 'delete' : 'add') : 'delete';
    const { verdicts } = await readBack(speaker, plan, intent, config.bgp.verify_timeout);
    const rows = rowsOf(verdicts);
    const errors = rows.filter((r) => !r.verified).map((r) => new VipError('VIP_E_VERIFY', r.problem ?? `${r.prefix} did not verify`, { vip: r.vip }));
    const anyOk = rows.some((r) => r.verified && r.action !== 'none');
    return { rows, errors, code: errors.length === 0 ? EXIT.OK : anyOk ? EXIT.PARTIAL : EXIT.FAILED };
  } finally {
    await lock?.release();
  }
}

/** One warning for the routes a stateless speaker lost and this run re-announces. */
export function logHealing(log: Log, heal: readonly SpeakerChange[]): void {
  const list = heal.map((h) => `${h.prefix} (${h.routeMap})`);
  log.warn(
    { action: 'add', reason: HEAL_REASON, count: heal.length, prefix: heal.map((h) => h.prefix).join(',') },
    `the speaker lost ${heal.length} announcement${heal.length === 1 ? '' : 's'} vip-mgmt's state holds (restarted?): re-announcing ${list.slice(0, 10).join(', ')}${list.length > 10 ? `, ... (${list.length - 10} more)` : ''}`,
  );
}

function withoutDrain(h: Hold): Hold {
  const { drain: _over, ...plain } = h;
  return plain;
}

/**
 * Every configured service's answer, for the policy: the asked ones as just resolved, the others
 * from the watchdog's DNS cache when fresh, else asked now (a literal address keeps the rank of the
 * service that claims it, so the policy needs them all). One that does not answer falls back to
 * its cached answer, stale or not; with none it is left out and the policy reports it unresolved.
 */
export async function servicesFor(deps: Deps, asked: ResolvedName[]): Promise<ResolvedName[]> {
  const byName = new Map(asked.map((r) => [serviceKey(r.name), r]));
  let cache: State['dns'] = {};
  try {
    cache = (await deps.store.read()).dns;
  } catch {
    // an unreadable state is reported when the run reads it under the lock
  }
  const now = deps.clock.now();
  const out = await Promise.all(
    deps.config.services.map(async (s): Promise<ResolvedName | null> => {
      const have = byName.get(s.name);
      if (have) return have;
      const cached = Object.hasOwn(cache, s.name) ? cache[s.name] : undefined;
      if (cached && cacheFresh(cached, now)) return fromCache(s.name, cached);
      try {
        return await deps.resolver.resolve(s.name);
      } catch {
        return cached ? fromCache(s.name, cached) : null;
      }
    }),
  );
  return out.filter((r): r is ResolvedName => r !== null);
}
