// `watchdog`: one cycle (cron form), or a loop with --every / --schedule that never overlaps itself.
import { EXIT, VipError, isVipError, exitFor } from '../core/errors.js';
import {
  cacheEntry,
  cacheFresh,
  decideAll,
  fromCache,
  nextWatchdogState,
  watchItems,
  watchdogLine,
  type ItemDecision,
} from '../core/watchdog.js';
import type { ResolvedName, SpeakerChange, State } from '../core/types.js';
import type { Deps } from './context.js';
import { readBack } from './change.js';
import type { PlannedChange } from '../core/plan.js';

/** What a watchdog needs besides the common deps: the IPVS table and the live count rule. */
export interface IpvsPort {
  /** read the table once; throws VIP_E_IPVS_UNREADABLE */
  read(): Promise<unknown>;
  /** what the parser kept but did not understand (unknown protocols, forwarding methods) */
  warnings(table: unknown): string[];
  /** every VIP address the table has a virtual service for */
  vips(table: unknown): string[];
  /** live real servers per VIP address (SPEC: weight > 0, not excluded, weakest service) */
  live(table: unknown, vips: string[]): Map<string, number>;
}

export type WatchdogDeps = Deps & { ipvs: IpvsPort };

export interface CycleResult {
  code: number;
  changes: { vip: string; prefix: string; action: 'add' | 'delete' | 'none'; reason: string; verified: boolean }[];
  errors: VipError[];
  decisions: ItemDecision[];
  /** prefixes configured in the speaker after the cycle (null when not known) and held ones, for metrics */
  announced?: Set<string> | null;
  holds?: Set<string>;
}

const errorJson = (e: VipError) => ({ code: e.code, message: e.message, ...(typeof e.details.vip === 'string' ? { vip: e.details.vip } : {}) });

/** Resolve services through the TTL cache; on failure fall back to the last good answer. */
async function resolveServices(deps: WatchdogDeps, state: State, now: Date): Promise<{ resolved: ResolvedName[]; dns: State['dns']; errors: VipError[] }> {
  const dns: State['dns'] = {};
  const errors: VipError[] = [];
  const resolved: ResolvedName[] = [];
  await Promise.all(
    deps.config.services.map(async (s) => {
      const cached = state.dns[s.name];
      if (cached && cacheFresh(cached, now)) {
        dns[s.name] = cached;
        resolved.push(fromCache(s.name, cached));
        return;
      }
      try {
        const r = await deps.resolver.resolve(s.name);
        dns[s.name] = cacheEntry(r, now);
        resolved.push(r);
      } catch (e) {
        const err = isVipError(e) ? e : new VipError('VIP_E_FAILED', `${s.name}: ${String(e)}`);
        if (cached) {
          dns[s.name] = cached;
          resolved.push(fromCache(s.name, cached));
          deps.log.warn({ service: s.name, code: err.code }, `${err.message}; using the last good answer from ${cached.fetched}`);
        } else {
          errors.push(err);
          deps.log.error({ service: s.name, code: err.code }, `${err.message}; its VIPs are left as they are`);
        }
      }
    }),
  );
  return { resolved, dns, errors };
}

/** One watchdog cycle under the run lock. Busy lock: exit 75 quietly (cron overlap is normal). */
export async function watchdogCycle(deps: WatchdogDeps): Promise<CycleResult> {
  const { config, store, speaker, log } = deps;
  let release: () => Promise<void>;
  try {
    release = deps.opts.dryRun ? async () => undefined : await store.lock({ waitMs: 0 });
  } catch (e) {
    if (isVipError(e) && e.code === 'VIP_E_LOCKED') {
      log.debug({}, e.message);
      return { code: EXIT.LOCKED, changes: [], errors: [e], decisions: [] };
    }
    throw e;
  }
  try {
    let state = await store.read();
    const now = deps.clock.now();
    const { resolved, dns, errors } = await resolveServices(deps, state, now);

    let table: unknown = null;
    try {
      table = await deps.ipvs.read();
      for (const w of deps.ipvs.warnings(table)) log.debug({}, `IPVS table: ${w}`);
    } catch (e) {
      const err = isVipError(e) ? e : new VipError('VIP_E_IPVS_UNREADABLE', String(e));
      errors.push(err);
      log.error({ code: err.code }, `${err.message}; changing nothing (fail static)`);
    }

    const running = await speaker.readRunning();
    const asn = config.datacenters[config.dc]!.asn;
    if (running.asn !== asn) {
      throw new VipError('VIP_E_CONFIG_ASN', `the speaker runs "router bgp ${running.asn ?? '(none)'}" but datacenters.${config.dc}.asn is ${asn}`);
    }
    const { items, errors: itemErrors } = watchItems(config, resolved, table === null ? [] : deps.ipvs.vips(table));
    for (const e of itemErrors) log.warn({ vip: e.details.vip, code: e.code }, e.message);
    const live = table === null ? null : deps.ipvs.live(table, items.map((i) => i.vip.address));
    const { decisions, changes: wanted } = decideAll(items, live, running, state);

    // FRR silently drops a network whose route-map is missing: refuse those adds, loudly.
    const have = new Set(running.routeMaps);
    const changes: SpeakerChange[] = [];
    for (const c of wanted) {
      if (c.action === 'add' && c.routeMap && !have.has(c.routeMap)) {
        const err = new VipError('VIP_E_POLICY_ROUTEMAP', `route-map ${c.routeMap} does not exist: not announcing ${c.prefix} (load the rendered snippet)`, {
          vip: c.prefix.split('/')[0],
        });
        errors.push(err);
        log.error({ vip: err.details.vip, code: err.code }, err.message);
      } else changes.push(c);
    }
    const changing = decisions.filter((d) => changes.some((c) => c.prefix === d.item.vip.prefix));

    const rows = (verified: Map<string, boolean>) =>
      decisions.map((d) => {
        const acted = changing.includes(d);
        return {
          vip: d.item.vip.address,
          prefix: d.item.vip.prefix,
          action: acted ? d.decision.action : ('none' as const),
          reason: d.decision.why,
          verified: verified.get(d.item.vip.prefix) ?? !acted,
        };
      });

    if (deps.opts.dryRun) return { code: exitFor(errors, false), changes: rows(new Map()), errors, decisions };

    for (const d of changing) {
      log.info(
        { vip: d.item.vip.address, prefix: d.item.vip.prefix, action: d.decision.action, live: d.decision.next.live, service: d.item.names.join(','), dc: config.dc, reason: d.decision.why },
        watchdogLine(d),
      );
    }
    const verified = new Map<string, boolean>();
    if (changes.length > 0) {
      await speaker.apply(asn, changes); // on failure the old state stays, so the next cycle retries
      const plan: PlannedChange[] = changing.map((d) => ({
        vip: d.item.vip,
        names: d.item.names,
        action: d.decision.action,
        routeMap: d.decision.action === 'add' ? d.item.routeMap : d.configuredRouteMap,
        reason: d.decision.why,
      }));
      for (const intent of ['add', 'delete'] as const) {
        const part = plan.filter((p) => p.action === intent);
        if (part.length === 0) continue;
        const { verdicts } = await readBack(speaker, part, intent, config.bgp.verify_timeout);
        verdicts.forEach((v, i) => {
          verified.set(part[i]!.vip.prefix, v.verified);
          if (!v.verified) errors.push(new VipError('VIP_E_VERIFY', v.problem ?? `${part[i]!.vip.prefix} did not verify`, { vip: part[i]!.vip.address }));
        });
      }
      for (const e of errors.filter((x) => x.code === 'VIP_E_VERIFY')) log.error({ vip: e.details.vip, code: e.code }, e.message);
    }
    state = { ...nextWatchdogState(state, decisions, now), dns };
    await store.write(state);
    const anyOk = [...verified.values()].some(Boolean);
    const announced = new Set(running.networks.map((n) => n.prefix));
    for (const c of changes) {
      if (!verified.get(c.prefix)) continue;
      if (c.action === 'add') announced.add(c.prefix);
      else announced.delete(c.prefix);
    }
    return { code: exitFor(errors, anyOk), changes: rows(verified), errors, decisions, announced, holds: new Set(Object.keys(state.holds)) };
  } finally {
    await release();
  }
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
        decisions: r?.decisions ?? [],
        announced: r?.announced ?? null,
        holds: r?.holds ?? new Set(),
        finishedAt: deps.clock.now(),
        durationMs: performance.now() - t0,
        exitCode: r ? r.code : failedExit,
        errors: r ? r.errors.length : 1,
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
}

/**
 * Daemon mode: cycles back to back on a fixed period or a cron schedule (seconds allowed); a cycle
 * never overlaps the next. SIGTERM/SIGINT finish the running cycle and exit 0; SIGHUP reloads the
 * config before the next cycle (a bad config is logged and the old one kept).
 */
export async function watchdogLoop(first: WatchdogDeps, opts: LoopOptions): Promise<number> {
  let deps = first;
  let stopping = false;
  let reloading = false;
  let wake: () => void = () => undefined;
  const onStop = () => {
    stopping = true;
    wake();
  };
  const onHup = () => {
    reloading = true;
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  let cron: { next(): { getTime(): number } } | null = null;
  if (opts.schedule) {
    const { CronExpressionParser } = await import('../adapters/cronexpr.js');
    cron = CronExpressionParser.parse(opts.schedule, { currentDate: deps.clock.now() });
  }
  deps.log.info({ every: opts.everyMs, schedule: opts.schedule }, `watchdog running ${opts.schedule ? `on schedule "${opts.schedule}"` : `every ${opts.everyMs} ms`}`);
  try {
    while (!stopping) {
      if (reloading) {
        reloading = false;
        try {
          deps = await opts.reload();
          deps.log.info({}, `configuration reloaded from ${deps.config.source}`);
        } catch (e) {
          deps.log.error({}, `reload failed, keeping the previous configuration: ${(e as Error).message}`);
        }
      }
      const started = Date.now();
      try {
        const r = await cycleWithMetrics(deps);
        printCycle(deps, r);
      } catch (e) {
        const err = isVipError(e) ? e : new VipError('VIP_E_FAILED', String((e as Error)?.stack ?? e));
        deps.log.error({ code: err.code }, `cycle failed: ${err.message}`);
      }
      if (stopping) break;
      let next: number;
      if (cron) {
        next = cron.next().getTime();
        while (next <= Date.now()) next = cron.next().getTime(); // skip slots a slow cycle missed
      } else next = started + opts.everyMs!;
      const wait = Math.max(0, next - Date.now());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
  deps.log.info({}, 'watchdog stopped');
  return EXIT.OK;
}
