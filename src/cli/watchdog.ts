// `watchdog`: reads the inputs of one cycle, lets core/cycle.ts decide, writes state, then applies; or loops with --every / --schedule.
import { EXIT, VipError, isVipError, exitFor } from '../core/errors.js';
import { cacheEntry, cacheFresh, fromCache } from '../core/dnscache.js';
import { planCycle, type CycleRow } from '../core/cycle.js';
import { checkLabel, needsIpvs, type CheckResults } from '../core/checks.js';
import type { CheckSample } from '../core/metrics.js';
import type { IpvsTable } from '../core/ipvs.js';
import type { PlannedChange } from '../core/plan.js';
import type { Log, ResolvedName, RunLock, RunningBgp, State } from '../core/types.js';
import type { Deps } from './context.js';
import { logHealing, readBack } from './change.js';
import { healLost, healReason, healScope, mergeHealing } from '../core/journal.js';
import { toVip } from '../core/prefix.js';
import type { FleetHold } from '../core/fleet.js';

/** The IPVS side of the watchdog: read and parse the table once; throws VIP_E_IPVS_UNREADABLE. */
export interface IpvsPort {
  read(): Promise<IpvsTable>;
}

/** Where a cycle gets its host health check outcomes: run them all now (cron), or the daemon's
 *  scheduler's latest (each check on its own interval). */
export interface CheckPort {
  current(): Promise<CheckResults>;
}

export type WatchdogDeps = Deps & { ipvs: IpvsPort; checks?: CheckPort };


export interface CycleResult {
  code: number;
  changes: { vip: string; prefix: string; action: 'add' | 'delete' | 'none'; reason: string; verified: boolean }[];
  errors: VipError[];
  rows: CycleRow[];
  /** prefixes configured in the speaker after the cycle (null when not known) and held ones, for metrics */
  announced?: Set<string> | null;
  holds?: Set<string>;
  /** the host health check outcomes the cycle decided on, for metrics */
  checks?: CheckSample[];
}

const errorJson = (e: VipError) => ({ code: e.code, message: e.message, ...(typeof e.details.vip === 'string' ? { vip: e.details.vip } : {}) });

/** Resolve services through the TTL cache; on failure fall back to the last good answer. Runs
 *  BEFORE the lock is taken: a slow DNS server must not hold the lock (and stall into losing it). */
async function resolveServices(deps: WatchdogDeps, cache: State['dns'], now: Date): Promise<{ resolved: ResolvedName[]; dns: State['dns']; errors: VipError[] }> {
  const dns: State['dns'] = Object.create(null);
  const errors: VipError[] = [];
  const answers = await Promise.all(
    deps.config.services.map(async (s): Promise<ResolvedName | null> => {
      const cached = Object.hasOwn(cache, s.name) ? cache[s.name] : undefined;
      if (cached && cacheFresh(cached, now)) {
        dns[s.name] = cached;
        return fromCache(s.name, cached);
      }
      try {
        const r = await deps.resolver.resolve(s.name);
        dns[s.name] = cacheEntry(r, now);
        return r;
      } catch (e) {
        const err = isVipError(e) ? e : new VipError('VIP_E_FAILED', `${s.name}: ${String(e)}`);
        if (cached) {
          dns[s.name] = cached;
          deps.log.warn({ service: s.name, code: err.code }, `${err.message}; using the last good answer from ${cached.fetched}`);
          return fromCache(s.name, cached);
        }
        errors.push(err);
        deps.log.error({ service: s.name, code: err.code }, `${err.message}; its VIPs are left as they are`);
        return null;
      }
    }),
  );
  // config order, never answer order: nothing may depend on which DNS answer came first
  return { resolved: answers.filter((r): r is ResolvedName => r !== null), dns, errors };
}

function emit(log: Log, events: { level: 'debug' | 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }[]): void {
  for (const e of events) log[e.level](e.fields, e.msg);
}

/** One watchdog cycle: DNS, then under the run lock: state, IPVS, speaker -> planCycle -> state
 *  written -> ONE apply -> read back. Busy lock: exit 75 quietly (cron overlap is normal). */
export async function watchdogCycle(deps: WatchdogDeps): Promise<CycleResult> {
  const { config, store, speaker, log } = deps;
  const now = deps.clock.now();
  const { resolved, dns, errors } = await resolveServices(deps, (await store.read()).dns, now);
  // Checks run before the lock too (cron: all at once, bounded by their timeouts; the daemon: its
  // scheduler's latest outcomes), so a hung health endpoint never holds the lock.
  const checks = await cycleChecks(deps);
  const samples = checkSamples(deps, checks);
  // Fleet holds, before the lock too: an etcd call that runs into its deadline never holds the lock.
  const fleetMod = config.fleet ? await import('./fleet.js') : null;
  const fleetRead: FleetHold[] | VipError | null = fleetMod ? await fleetMod.readFleetHolds(deps) : null;
  let publish: { running: RunningBgp; state: State } | null = null;
  let leaving: { release(): Promise<void> } | null = null; // this cycle's withdrawal intent in etcd (fleet mode)

  let lock: RunLock | null = null;
  if (!deps.opts.dryRun) {
    try {
      lock = await store.lock({ waitMs: 0 });
    } catch (e) {
      if (isVipError(e) && e.code === 'VIP_E_LOCKED') {
        log.debug({}, e.message);
        return { code: EXIT.LOCKED, changes: [], errors: [e], rows: [], checks: samples };
      }
      throw e;
    }
  }
  try {
    const state = await store.read(); // under the lock: an operator's hold set meanwhile counts
    // Asked first, awaited after the IPVS table: bgpd writes its running config (~50 ms at 1,250
    // networks) on its own core while this process reads and parses the table.
    const runningAnswer = speaker.readRunning();
    runningAnswer.catch(() => undefined); // its failure is thrown where it is awaited
    // not read at all when every service is live_from: checks (a host without IPVS)
    let ipvs: IpvsTable | VipError | null = null;
    if (needsIpvs(config)) {
      try {
        ipvs = await deps.ipvs.read();
      } catch (e) {
        ipvs = isVipError(e) ? e : new VipError('VIP_E_IPVS_UNREADABLE', String(e));
      }
    }
    const reported = await runningAnswer;
    const asn = config.datacenters[config.dc]!.asn;
    if (reported.asn !== asn) {
      throw new VipError('VIP_E_CONFIG_ASN', `the speaker runs "router bgp ${reported.asn ?? '(none)'}" but datacenters.${config.dc}.asn is ${asn}`);
    }
    // after a speaker restart (ExaBGP/GoBGP: every route; FRR/Quagga: literal addresses) the
    // journal's routes it lost go back in this cycle's batch, and the cycle decides on them as
    // announced (core/journal.ts)
    const { running, heal } = healLost(reported, state, config.vip_prefixes, now, healScope(config.bgp.speaker, Boolean(speaker.stateless)));
    const fleet = fleetMod && fleetRead ? fleetMod.fleetCycleInput(deps, fleetRead, state) : null;
    const input = { config, resolved, ipvs, checks, running, state: { ...state, dns, ...(fleet?.cache ? { fleet: fleet.cache } : {}) }, now, ...(fleet ? { fleet: fleet.input } : {}) };
    let plan = planCycle(input);
    // the last-DC guard reads the published hosts only when a health-driven withdrawal is planned
    // (this host's intent to withdraw them is written to etcd first: cli/fleet.ts guardView)
    if (fleetMod && fleet && plan.guardNeeded.length > 0) {
      const g = await fleetMod.cycleGuard(deps, fleetRead!, plan.guardNeeded);
      leaving = g.leaving;
      if (g.guard) plan = planCycle({ ...input, fleet: { ...fleet.input, guard: g.guard } });
    }
    const batch = mergeHealing(heal, plan.changes);
    const healed = heal.filter((h) => batch.includes(h));
    emit(log, plan.events.filter((e) => e.level !== 'info'));
    errors.push(...plan.errors);
    const acting = plan.rows.filter((r) => r.action !== 'none' && plan.changes.some((c) => c.prefix === r.vip.prefix));
    // a re-announcement of what a stateless speaker lost is a change too, shown (and planned under
    // --dry-run) like the cycle's own; literals and discovered VIPs have no row of their own
    const healing = new Set(healed.map((h) => h.prefix));
    const healWhy = healReason(deps.opts.dryRun);
    const rowsOut = (verified: Map<string, boolean>): CycleResult['changes'] => [
      ...plan.rows.map((r) => {
        const acted = acting.includes(r);
        if (!acted && healing.has(r.vip.prefix)) return { vip: r.vip.address, prefix: r.vip.prefix, action: 'add' as const, reason: healWhy, verified: verified.get(r.vip.prefix) ?? false };
        return { vip: r.vip.address, prefix: r.vip.prefix, action: acted ? r.action : ('none' as const), reason: r.why, verified: verified.get(r.vip.prefix) ?? !acted };
      }),
      ...healed
        .filter((h) => !plan.rows.some((r) => r.vip.prefix === h.prefix))
        .map((h) => ({ vip: h.prefix.split('/')[0]!, prefix: h.prefix, action: 'add' as const, reason: healWhy, verified: verified.get(h.prefix) ?? false })),
    ];

    if (healed.length > 0 && !deps.opts.dryRun) logHealing(log, healed);
    if (deps.opts.dryRun) {
      return { code: exitFor(errors, false), changes: rowsOut(new Map()), errors, rows: plan.rows, checks: samples };
    }

    // State first, speaker second: a failed state write (full disk) or a lost lock changes nothing.
    await store.write(plan.state, lock!);
    emit(log, plan.events.filter((e) => e.level === 'info'));
    const verified = new Map<string, boolean>();
    if (batch.length > 0) {
      await lock!.assertHeld();
      try {
        await speaker.apply(asn, batch);
      } catch (e) {
        // the speaker did not change: put the counters back so the next cycle decides afresh
        await store.write({ ...state, dns: plan.state.dns }, lock!).catch(() => undefined);
        throw e;
      }
      const planned: PlannedChange[] = [
        ...acting.map((r) => ({ vip: r.vip, names: r.names, action: r.action, routeMap: r.routeMap, reason: r.why })),
        ...healed.map((h) => ({ vip: toVip(h.prefix.split('/')[0]!), names: [], action: 'add' as const, routeMap: h.routeMap, reason: healReason(false) })),
      ];
      for (const intent of ['add', 'delete'] as const) {
        const part = planned.filter((p) => p.action === intent);
        if (part.length === 0) continue;
        const { verdicts } = await readBack(speaker, part, intent, config.bgp.verify_timeout);
        verdicts.forEach((v, i) => {
          verified.set(part[i]!.vip.prefix, v.verified);
          if (!v.verified) errors.push(new VipError('VIP_E_VERIFY', v.problem ?? `${part[i]!.vip.prefix} did not verify`, { vip: part[i]!.vip.address }));
        });
      }
      for (const e of errors.filter((x) => x.code === 'VIP_E_VERIFY')) log.error({ vip: e.details.vip, code: e.code }, e.message);
    }
    // a VIP the last-DC guard kept (demoted instead of withdrawn) is the guard's error, not a success
    // that would make the exit code "partial"
    const kept = new Set(errors.flatMap((e) => (e.code === 'VIP_E_POLICY_LAST_DC' || e.code === 'VIP_E_FLEET_UNAVAILABLE' ? ((e.details.prefixes as string[] | undefined) ?? []) : [])));
    const anyOk = [...verified].some(([p, v]) => v && !kept.has(p));
    const announced = new Set(running.networks.map((n) => n.prefix));
    const networks = new Map(running.networks.map((n) => [n.prefix, n.routeMap]));
    for (const c of plan.changes) {
      if (!verified.get(c.prefix)) continue;
      if (c.action === 'add') announced.add(c.prefix);
      else announced.delete(c.prefix);
      if (c.action === 'add') networks.set(c.prefix, c.routeMap);
      else networks.delete(c.prefix);
    }
    publish = { running: { ...running, networks: [...networks].map(([prefix, routeMap]) => ({ prefix, routeMap })) }, state: plan.state };
    return { code: exitFor(errors, anyOk), changes: rowsOut(verified), errors, rows: plan.rows, announced, holds: new Set(Object.keys(plan.state.holds)), checks: samples };
  } finally {
    await lock?.release();
    // after the lock: publishing never changes a route, and a slow etcd never holds the lock
    // not when etcd just failed to answer: a second deadline would only lengthen the cycle
    if (fleetMod && publish) {
      if (fleetRead instanceof VipError) log.debug({}, 'not published to the fleet: etcd did not answer at the start of this cycle');
      else if ((await fleetMod.publishHost(deps, 'watchdog', publish.running, publish.state)) && leaving) {
        // the record now says what was withdrawn: the intent has done its work
        await leaving.release().catch((e: Error) => log.debug({}, `${e.message}; it expires with its lease`));
      }
    }
  }
}

async function cycleChecks(deps: WatchdogDeps): Promise<CheckResults> {
  if (deps.checks) return deps.checks.current();
  if (!deps.config.services.some((s) => s.checks.length > 0)) return new Map();
  const { runAllChecks } = await import('../adapters/checks.js');
  return runAllChecks(deps.config.services);
}

/** One sample per check run, for metrics; a failing check is logged at debug (the change line
 *  names it when it moves a VIP). */
function checkSamples(deps: WatchdogDeps, results: CheckResults): CheckSample[] {
  const out: CheckSample[] = [];
  for (const s of deps.config.services) {
    s.checks.forEach((c, i) => {
      const o = results.get(s.name)?.[i];
      if (!o) return;
      out.push({ service: s.name, check: checkLabel(c), type: c.type, ok: o.ok, seconds: o.ms / 1000 });
      if (!o.ok) deps.log.debug({ service: s.name, check: checkLabel(c) }, `check ${checkLabel(c)} of ${s.name} failed: ${o.detail}`);
    });
  }
  return out;
}

/** Run one cycle and, when watchdog.metrics_file is set, write its metrics atomically (also when
 *  the cycle failed: a scrape must see the failure, not the last good cycle). */
export async function cycleWithMetrics(deps: WatchdogDeps): Promise<CycleResult> {
  // --dry-run changes nothing, the metrics file included
  const file = deps.opts.dryRun ? '' : deps.config.watchdog.metrics_file;
  if (!file) return watchdogCycle(deps);
  const t0 = performance.now();
  let r: CycleResult | null = null;
  let failedExit: number = EXIT.FAILED;
  try {
    r = await watchdogCycle(deps);
    return r;
  } catch (e) {
    if (isVipError(e)) failedExit = e.exit;
    throw e;
  } finally {
    // a cycle that found the lock busy did nothing: the previous cycle's metrics stay
    if (r?.code !== EXIT.LOCKED) {
      const { formatMetrics } = await import('../core/metrics.js');
      const text = formatMetrics({
        rows: r?.rows ?? [],
        announced: r?.announced ?? null,
        holds: r?.holds ?? new Set(),
        finishedAt: deps.clock.now(),
        durationMs: performance.now() - t0,
        exitCode: r ? r.code : failedExit,
        errors: r ? r.errors.length : 1,
        checks: r?.checks ?? [],
      });
      try {
        const { writeFileAtomically } = await import('../adapters/state.js');
        await writeFileAtomically(file, text);
      } catch (e) {
        deps.log.warn({ code: 'VIP_E_METRICS' }, `cannot write metrics to ${file}: ${(e as Error).message}`);
      }
    }
  }
}

export function printCycle(deps: Deps, r: CycleResult): void {
  if (deps.opts.json) deps.out.json({ changes: r.changes, errors: r.errors.map(errorJson) });
  else if (deps.opts.dryRun) {
    for (const c of r.changes) deps.out.data(`${c.prefix.padEnd(24)} ${c.action.padEnd(6)} ${c.reason}`);
  }
}

export interface LoopOptions {
  everyMs?: number;
  schedule?: string;
  /** rebuild deps from the config file (SIGHUP) */
  reload: () => Promise<WatchdogDeps>;
  /** one cycle (default cycleWithMetrics); the loop's own tests hand in a model */
  cycle?: (deps: WatchdogDeps) => Promise<CycleResult>;
}

/** The daemon's host health checks: each on its own interval (default the daemon's period); a
 *  change of verdict requests a cycle at once. Without checks, deps as they are. */
async function scheduledChecks(deps: WatchdogDeps, periodMs: number, requestCycle: () => void): Promise<{ deps: WatchdogDeps; stop: () => void }> {
  if (!deps.config.services.some((s) => s.checks.length > 0)) return { deps, stop: () => undefined };
  const { scheduleChecks } = await import('../adapters/checks.js');
  const wd = deps.config.watchdog;
  const s = scheduleChecks(deps.config.services, { defaultIntervalMs: Math.max(1, periodMs), onChange: requestCycle, confirm: Math.max(wd.rise, wd.fall) - 1 });
  return { deps: { ...deps, checks: { current: async () => s.results() } }, stop: () => s.stop() };
}

/** A cycle asked for with SIGUSR1 that found the run lock busy (an operator's -a/-d) is tried again
 *  this soon, until one runs or the next periodic cycle starts: a keepalived notification is not lost
 *  to a half-second overlap, and the lock is never bypassed. */
export const REQUEST_RETRY_MS = 500;

/**
 * Daemon mode: cycles on a fixed period or a cron schedule (seconds allowed); a cycle never overlaps
 * the next. SIGUSR1 (`watchdog --now`), or a host health check whose verdict changes (each check
 * runs on its own interval, see scheduledChecks), asks for a cycle at once: while one runs, exactly
 * one more follows it, however many requests came; the periodic schedule is not moved by it. SIGTERM/SIGINT
 * finish the running cycle and exit 0; SIGHUP reloads the config before the next cycle (a bad config
 * is logged and the old one kept).
 */
export async function watchdogLoop(first: WatchdogDeps, opts: LoopOptions): Promise<number> {
  let deps = first;
  const runCycle = opts.cycle ?? cycleWithMetrics;
  let stopping = false;
  let reloading = false;
  let requested = false; // SIGUSR1 came and its cycle has not started yet
  let retryAt = Infinity; // a requested cycle found the lock busy: try again then
  let wake: () => void = () => undefined;
  const onStop = () => {
    stopping = true;
    wake();
  };
  const onHup = () => {
    reloading = true;
  };
  const onRequest = () => {
    if (stopping) return;
    requested = true;
    wake(); // a running cycle is not interrupted: the flag starts one more after it
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  process.on('SIGUSR1', onRequest);
  // a host health check whose verdict changed asks the same way SIGUSR1 does
  const requestCycle = onRequest;
  let cron: { next(): { getTime(): number } } | null = null;
  let periodMs = opts.everyMs ?? 0;
  if (opts.schedule) {
    const { CronExpressionParser } = await import('../adapters/cronexpr.js');
    cron = CronExpressionParser.parse(opts.schedule, { currentDate: deps.clock.now() });
    const probe = CronExpressionParser.parse(opts.schedule, { currentDate: deps.clock.now() });
    periodMs = -probe.next().getTime() + probe.next().getTime(); // a check's default interval
  }
  let checks = await scheduledChecks(deps, periodMs, requestCycle);
  deps = checks.deps;
  // fleet mode: a fleet hold set or cleared anywhere asks for a cycle at once
  const watchHolds = async (d: WatchdogDeps) =>
    (await import('./fleet.js')).watchFleetHolds(d, requestCycle).catch((e: Error) => {
      d.log.warn({}, `cannot watch the fleet holds: ${e.message}; cycles still read them`);
      return null;
    });
  let watch = deps.config.fleet ? await watchHolds(deps) : null;
  deps.log.info({ every: opts.everyMs, schedule: opts.schedule }, `watchdog running ${opts.schedule ? `on schedule "${opts.schedule}"` : `every ${opts.everyMs} ms`}`);
  let dueAt = Date.now(); // the next periodic cycle; the first one at once
  try {
    while (!stopping) {
      const wait = requested ? 0 : Math.min(dueAt, retryAt) - Date.now();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          // setTimeout fires at once past 2^31-1 ms (a yearly schedule): wake early and look again
          const t = setTimeout(resolve, Math.min(wait, 2 ** 31 - 1));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = () => undefined;
        continue; // woken or due: look at the flags again
      }
      if (stopping) break;
      if (reloading) {
        reloading = false;
        try {
          const fresh = await opts.reload();
          checks.stop();
          const old = deps.config;
          checks = await scheduledChecks(fresh, periodMs, requestCycle);
          deps = checks.deps;
          if (watch || deps.config.fleet) {
            await watch?.stop();
            await (await import('./fleet.js')).closeFleet(old);
            watch = deps.config.fleet ? await watchHolds(deps) : null;
          }
          deps.log.info({}, `configuration reloaded from ${deps.config.source}`);
        } catch (e) {
          deps.log.error({}, `reload failed, keeping the previous configuration: ${(e as Error).message}`);
        }
      }
      const started = Date.now();
      const periodic = started >= dueAt;
      const asked = requested || started >= retryAt;
      requested = false; // a SIGUSR1 from here on asks for one more cycle after this one
      retryAt = Infinity;
      if (asked) deps.log.debug({}, 'running a cycle now: asked for with SIGUSR1 (watchdog --now)');
      let code: number | null = null;
      try {
        const r = await runCycle(deps);
        code = r.code;
        printCycle(deps, r);
      } catch (e) {
        const err = isVipError(e) ? e : new VipError('VIP_E_FAILED', String((e as Error)?.stack ?? e));
        deps.log.error({ code: err.code }, `cycle failed: ${err.message}`);
      }
      if (stopping) break;
      if (periodic) {
        if (cron) {
          dueAt = cron.next().getTime();
          while (dueAt <= Date.now()) dueAt = cron.next().getTime(); // skip slots a slow cycle missed
        } else dueAt = started + opts.everyMs!;
      } else if (asked && code === EXIT.LOCKED) {
        retryAt = Date.now() + REQUEST_RETRY_MS;
        deps.log.debug({}, `the cycle asked for found the run lock busy; trying again in ${REQUEST_RETRY_MS} ms`);
      }
    }
  } finally {
    checks.stop();
    await watch?.stop();
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    process.off('SIGUSR1', onRequest);
  }
  deps.log.info({}, 'watchdog stopped');
  return EXIT.OK;
}
