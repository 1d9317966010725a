// Wiring of `vip-mgmt watchdog`: builds the deps (and rebuilds them on SIGHUP), then one cycle or the
// daemon loop (with its pid file). --now is watchdog-now.ts, which comes here when no daemon runs.
import { VipError } from '../core/errors.js';
import { checkDuration } from '../core/duration.js';
import type { Config } from '../config/load.js';
import type { GlobalOptions } from './context.js';
import { makeDeps, makeIpvsPort } from './deps.js';
import { cycleWithMetrics, printCycle, watchdogLoop, type LoopOptions, type WatchdogDeps } from './watchdog.js';

type BuiltDeps = WatchdogDeps & { log: { flush(): Promise<void> } };

async function build(g: GlobalOptions, config?: Config): Promise<BuiltDeps> {
  const deps = await makeDeps(g, config);
  if (deps.config.services.some((s) => s.checks.length > 0)) {
    // a check that cannot run is a configuration error here too (exit 3; a SIGHUP keeps the old config)
    const [{ unrunnableChecks }, { configError, formatPath }] = await Promise.all([import('../adapters/checks.js'), import('../config/load.js')]);
    const problems = await unrunnableChecks(deps.config.services);
    if (problems.length > 0) {
      await deps.log.flush();
      throw configError(deps.config.source, problems.map((p) => ({ path: formatPath(p.path), message: p.message })));
    }
  }
  return { ...deps, ipvs: await makeIpvsPort(deps.config) };
}

export async function watchdogCommand(g: GlobalOptions, o: { every?: string; schedule?: string }): Promise<number> {
  if (o.every && o.schedule) throw new VipError('VIP_E_USAGE', 'use either --every or --schedule, not both');
  let everyMs: number | undefined;
  if (o.every) {
    const d = checkDuration(o.every);
    if ('problem' in d) throw new VipError('VIP_E_USAGE', `--every: ${d.problem}`);
    everyMs = d.ms;
  }
  if (o.schedule) {
    const { CronExpressionParser } = await import('../adapters/cronexpr.js');
    try {
      CronExpressionParser.parse(o.schedule);
    } catch (e) {
      throw new VipError('VIP_E_USAGE', `--schedule: invalid cron expression "${o.schedule}": ${(e as Error).message}`);
    }
  }
  const deps = await build(g);
  try {
    if (everyMs || o.schedule) return await daemon(g, deps, { everyMs, schedule: o.schedule, reload: () => build(g) });
    return await oneCycle(deps);
  } finally {
    await deps.log.flush();
  }
}

async function oneCycle(deps: WatchdogDeps): Promise<number> {
  const r = await cycleWithMetrics(deps);
  printCycle(deps, r);
  return r.code;
}

/** The loop, owning state_dir's pid file while it runs (none under --dry-run: a dry daemon changes
 *  nothing, so it must neither keep a real daemon from starting nor take its --now requests). */
async function daemon(g: GlobalOptions, deps: WatchdogDeps, loop: LoopOptions): Promise<number> {
  // From here on SIGUSR1 never kills this process (its default action): once the pid file exists,
  // `watchdog --now` may send one at any moment, before the loop listens and after it has stopped.
  // One that comes before the loop listens is covered by the loop's first cycle, which runs at once.
  process.on('SIGUSR1', () => undefined);
  if (g.dryRun) return watchdogLoop(deps, loop);
  const { claimPidFile } = await import('../adapters/pidfile.js');
  const dir = deps.config.state_dir; // a SIGHUP reload does not move the pid file: restart for a new state_dir
  const claim = await claimPidFile(dir, deps.store);
  if (claim.replaced) deps.log.info({ pidFile: claim.file }, `replaced the pid file of a daemon that is gone: ${claim.replaced}`);
  try {
    return await watchdogLoop(deps, loop);
  } finally {
    const problem = await claim.release();
    if (problem) deps.log.warn({ pidFile: claim.file }, problem);
  }
}

/** One cycle with a config already loaded, after logging NOTE (why it runs here): `watchdog --now`
 *  when no daemon is there to signal. */
export async function oneCycleCommand(g: GlobalOptions, config: Config, note: string): Promise<number> {
  const deps = await build(g, config);
  try {
    deps.log.info({}, note);
    return await oneCycle(deps);
  } finally {
    await deps.log.flush();
  }
}
