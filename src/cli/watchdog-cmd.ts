// Wiring of `vip-mgmt watchdog`: builds the deps (and rebuilds them on SIGHUP), then one cycle or the loop.
import { VipError } from '../core/errors.js';
import { checkDuration } from '../core/duration.js';
import type { GlobalOptions } from './context.js';
import { makeDeps, makeIpvsPort } from './deps.js';
import { cycleWithMetrics, printCycle, watchdogLoop, type WatchdogDeps } from './watchdog.js';

async function build(g: GlobalOptions): Promise<WatchdogDeps & { log: { flush(): Promise<void> } }> {
  const deps = await makeDeps(g);
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
    if (everyMs || o.schedule) return await watchdogLoop(deps, { everyMs, schedule: o.schedule, reload: () => build(g) });
    const r = await cycleWithMetrics(deps);
    printCycle(deps, r);
    return r.code;
  } finally {
    await deps.log.flush();
  }
}
