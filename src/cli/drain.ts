// `-d NAME --graceful DURATION`: stage 1 re-announces with VIP-DRAIN (hold and deadline in state), the wait, stage 2 withdraws.
//
// Each stage is one locked step of change.ts; the wait holds no lock, so the watchdog runs meanwhile
// (it keeps a draining VIP on VIP-DRAIN, and withdraws it itself once the deadline passed: an
// interrupted drain is finished by the next cycle). `-a` during the wait cancels the drain.
import { EXIT } from '../core/errors.js';
import type { Deps } from './context.js';
import { report, step, targetsOf, type ChangeOptions } from './change.js';

/** Exit code of a drain interrupted by Ctrl-C: the shell's 128 + SIGINT. The VIPs stay announced
 *  with VIP-DRAIN and held; the message says how to finish. */
export const EXIT_INTERRUPTED = 130;

export async function gracefulDelete(deps: Deps, names: string[], gracefulMs: number, opts: ChangeOptions): Promise<number> {
  // Ctrl-C is caught from the start: during stage 1 it lets the step finish (state and speaker
  // agree), then skips the wait; it never kills the run half-way
  const interrupt = new AbortController();
  const onInt = () => interrupt.abort();
  process.on('SIGINT', onInt);
  try {
    return await drain(deps, names, gracefulMs, opts, interrupt.signal);
  } finally {
    process.off('SIGINT', onInt);
  }
}

async function drain(deps: Deps, names: string[], gracefulMs: number, opts: ChangeOptions, signal: AbortSignal): Promise<number> {
  const t = await targetsOf(deps, names, 'delete');
  if ('code' in t) return report(deps, t.rows, t.errors, t.code);
  const until = new Date(deps.clock.now().getTime() + gracefulMs).toISOString();
  const first = await step(deps, t.targets, t.resolved, { kind: 'drain', until }, opts);
  if (first.code !== EXIT.OK || deps.opts.dryRun) return report(deps, first.rows, first.errors, first.code);
  // fleet mode: the fleet sees the drain now (VIP-DRAIN and the hold: not a healthy announcer), not
  // only once the whole wait is over
  if (deps.config.fleet) await (await import('./fleet-change.js')).publishNow(deps, 'drain');

  const { countdown } = await import('../adapters/countdown.js');
  const label = `draining ${names.join(' ')}`;
  const how = await countdown(gracefulMs, { label, signal, tty: Boolean(process.stderr.isTTY) && !deps.opts.json, line: (text) => deps.log.info({}, text) });
  if (how === 'interrupted') {
    deps.log.warn(
      {},
      `drain interrupted: ${names.join(' ')} stay announced with VIP-DRAIN and held; run vip-mgmt -d ${names.join(' ')} to withdraw now, ` +
        `or the next watchdog cycle after ${until} does; vip-mgmt -a ${names.join(' ')} cancels`,
    );
    report(deps, first.rows, first.errors, EXIT_INTERRUPTED);
    return EXIT_INTERRUPTED;
  }
  const second = await step(deps, t.targets, t.resolved, { kind: 'finish' }, { ...opts, reason: opts.reason });
  if (second.rows.length === 0 && second.errors.length === 0) {
    deps.log.warn({}, `nothing left to withdraw: the drain of ${names.join(' ')} was cancelled (vip-mgmt -a) or finished by the watchdog meanwhile`);
  }
  return report(deps, [...first.rows, ...second.rows], [...first.errors, ...second.errors], second.code);
}
