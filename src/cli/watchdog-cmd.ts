// Wiring of `vip-mgmt watchdog`: builds the deps (and rebuilds them on SIGHUP), then one cycle, the
// daemon loop (with its pid file), or --now (signal the daemon, else one cycle here).
import { VipError } from '../core/errors.js';
import { checkDuration } from '../core/duration.js';
import type { Config } from '../config/load.js';
import type { GlobalOptions } from './context.js';
import { makeDeps, makeIpvsPort, makeOutput } from './deps.js';
import { cycleWithMetrics, printCycle, watchdogLoop, type LoopOptions, type WatchdogDeps } from './watchdog.js';

type BuiltDeps = WatchdogDeps & { log: { flush(): Promise<void> } };

async function build(g: GlobalOptions, config?: Config): Promise<BuiltDeps> {
  const deps = await makeDeps(g, config);
  return { ...deps, ipvs: await makeIpvsPort(deps.config) };
}

export async function watchdogCommand(g: GlobalOptions, o: { every?: string; schedule?: string; now?: boolean }): Promise<number> {
  if (o.now && (o.every || o.schedule)) {
    throw new VipError('VIP_E_USAGE', `--now asks the running daemon for one cycle (or runs one here); it does not go with ${o.every ? '--every' : '--schedule'}, which starts a daemon`);
  }
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
  if (o.now) return now(g);
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

/**
 * --now: make the daemon of this state_dir run a cycle at once (SIGUSR1), or, when no daemon runs,
 * run one cycle here as plain `watchdog` does. Only the config's state_dir is needed to find the
 * daemon, so the adapters are built only when the cycle runs here. --dry-run never signals (the
 * daemon would act): it shows what one cycle would do.
 */
async function now(g: GlobalOptions): Promise<number> {
  const [{ loadConfig }, { findDaemon, signalDaemon }] = await Promise.all([import('../config/load.js'), import('../adapters/pidfile.js')]);
  const config = await loadConfig(g.config);
  const found = await findDaemon(config.state_dir);
  let said = found.live ? '' : `no watchdog daemon runs (${found.why}): running one cycle here`;
  if (found.live) {
    const { pid, since } = found.record;
    if (g.dryRun) said = `--dry-run: watchdog daemon pid ${pid} is not signalled (it would act); showing what one cycle would do`;
    else if (signalDaemon(found.record)) {
      const out = makeOutput();
      if (g.json) out.json({ signalled: { pid, since, pidFile: found.file } });
      else out.data(`watchdog daemon pid ${pid} (running since ${since}) signalled: it runs a cycle now`);
      return 0;
    } else said = `watchdog daemon pid ${pid} exited just now: running one cycle here`;
  }
  const deps = await build(g, config);
  try {
    deps.log.info({ pidFile: found.file }, said);
    return await oneCycle(deps);
  } finally {
    await deps.log.flush();
  }
}
