// Waiting out a graceful drain: a progress bar on a terminal (cli-progress), plain lines otherwise; an abort (Ctrl-C) ends the wait early.
import { SingleBar } from 'cli-progress';

export interface CountdownOptions {
  /** what is being waited for, e.g. "draining service.tld" */
  label: string;
  /** stderr is a terminal: draw a bar; otherwise print a plain line now and then */
  tty: boolean;
  /** where plain lines go (stderr) */
  line: (text: string) => void;
  /** ends the wait early (the caller aborts it on SIGINT) */
  signal?: AbortSignal;
  /** clock, for tests */
  now?: () => number;
}

/** Wait MS, showing what is left. Resolves 'done', or 'interrupted' when SIGNAL aborts (at once if
 *  it already has). */
export function countdown(ms: number, opts: CountdownOptions): Promise<'done' | 'interrupted'> {
  const now = opts.now ?? Date.now;
  const end = now() + ms;
  const secs = (t: number) => Math.max(0, Math.ceil((end - t) / 1000));
  const bar = opts.tty
    ? new SingleBar({ format: `${opts.label} [{bar}] {left}s left`, stream: process.stderr, hideCursor: true, clearOnComplete: false, barsize: 30 })
    : null;
  bar?.start(ms, 0, { left: secs(now()) });
  if (!bar) opts.line(`${opts.label}: ${secs(now())}s left`);
  // plain lines: about ten in all, at most one every 5 s (a log, not an animation)
  const every = bar ? 250 : Math.max(5000, Math.ceil(ms / 10));
  if (opts.signal?.aborted) return Promise.resolve('interrupted');
  return new Promise((resolve) => {
    const finish = (how: 'done' | 'interrupted') => {
      clearInterval(tick);
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onInt);
      if (bar) {
        bar.update(Math.min(ms, ms - (end - now())), { left: secs(now()) });
        bar.stop();
      }
      resolve(how);
    };
    const onInt = () => finish('interrupted');
    opts.signal?.addEventListener('abort', onInt, { once: true });
    const tick = setInterval(() => {
      const t = now();
      if (bar) bar.update(Math.min(ms, ms - (end - t)), { left: secs(t) });
      else opts.line(`${opts.label}: ${secs(t)}s left`);
    }, every);
    const timer = setTimeout(() => finish('done'), ms);
  });
}
