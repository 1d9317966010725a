// `watchdog --now`: make the daemon of this config's state_dir run a cycle at once (SIGUSR1), or run one cycle here when none runs.
//
// keepalived runs it on every real server change and the point is the time to the router, so the
// signal path loads only js-yaml (for state_dir) and the pid file adapter: no schema library, logger
// or speaker (zod and pino alone take ~100 ms to load, about what Node's own start costs). Only when
// the cycle runs here is the config fully loaded and checked, as plain `watchdog` does.
import { VipError } from '../core/errors.js';
import { printable } from '../core/text.js';
import type { GlobalOptions } from './context.js';

export async function watchdogNowCommand(g: GlobalOptions, o: { every?: string; schedule?: string }): Promise<number> {
  if (o.every || o.schedule) {
    throw new VipError('VIP_E_USAGE', `--now asks the running daemon for one cycle (or runs one here); it does not go with ${o.every ? '--every' : '--schedule'}, which starts a daemon`);
  }
  const [{ peekStateDir }, { findDaemon, signalDaemon }] = await Promise.all([import('../config/statedir.js'), import('../adapters/pidfile.js')]);

  /** Signal the daemon of DIR: null when done, else what to log before running the cycle here. */
  const trySignal = async (dir: string): Promise<string | null> => {
    const found = await findDaemon(dir);
    if (!found.live) return `no watchdog daemon runs (${found.why}): running one cycle here`;
    const { pid, since } = found.record;
    // the daemon would act: --dry-run shows what one cycle would do, here
    if (g.dryRun) return `--dry-run: watchdog daemon pid ${pid} is not signalled (it would act); showing what one cycle would do`;
    if (!signalDaemon(found.record)) return `watchdog daemon pid ${pid} exited just now: running one cycle here`;
    const out = g.json ? `${JSON.stringify({ signalled: { pid, since, pidFile: found.file } }, null, 2)}\n` : `watchdog daemon pid ${pid} (running since ${printable(since)}) signalled: it runs a cycle now\n`;
    process.stdout.write(out);
    return null;
  };

  // undefined: not tried yet (the config could not be peeked at); null: signalled
  const peeked = await peekStateDir(g.config);
  let said = peeked === null ? undefined : await trySignal(peeked);
  if (said === null) return 0;
  const [{ loadConfig }, { oneCycleCommand }] = await Promise.all([import('../config/file.js'), import('./watchdog-cmd.js')]);
  const config = await loadConfig(g.config); // a config that could not be peeked at fails here (exit 3), saying why
  said ??= await trySignal(config.state_dir);
  if (said === null) return 0;
  return oneCycleCommand(g, config, said);
}
