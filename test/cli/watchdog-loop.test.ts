// The daemon loop's timing rules with a model cycle (the cycle itself is cycle.test.ts's): SIGUSR1 runs a cycle at once,
// signals during a cycle give exactly one more after it, cycles never overlap, the period is not moved, a requested
// cycle that finds the lock busy is retried. Signals are delivered with process.emit, to the loop's own listeners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { REQUEST_RETRY_MS, watchdogLoop, type CycleResult, type WatchdogDeps } from '../../src/cli/watchdog.ts';

interface Run {
  start: number;
  end: number;
}

/** A loop on a model cycle that takes `ms` and answers codes[i] (default 0) for its i-th run. */
function startLoop(o: { everyMs: number; ms?: number; codes?: number[] }) {
  const runs: Run[] = [];
  const lines: string[] = [];
  let running = 0;
  let overlap = 0;
  const t0 = performance.now();
  const at = () => performance.now() - t0;
  const log = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((l) => [l, (_f: unknown, msg: string) => void lines.push(`${l} ${msg}`)]));
  const deps = {
    log,
    clock: { now: () => new Date() },
    opts: { json: false, dryRun: false },
    out: { data: () => undefined, json: () => undefined },
    config: { source: 'model', services: [] },
  } as unknown as WatchdogDeps;
  const cycle = async (): Promise<CycleResult> => {
    const i = runs.length;
    const run = { start: at(), end: NaN };
    runs.push(run);
    if (++running > 1) overlap++;
    await sleep(o.ms ?? 0);
    running--;
    run.end = at();
    return { code: o.codes?.[i] ?? 0, changes: [], errors: [], rows: [] };
  };
  const listeners = process.listenerCount('SIGUSR1');
  const done = watchdogLoop(deps, { everyMs: o.everyMs, reload: async () => deps, cycle });
  return {
    runs,
    lines,
    at,
    overlap: () => overlap,
    /** wait until n cycles have started (or fail after `within` ms) */
    async started(n: number, within = 10_000) {
      const until = performance.now() + within;
      while (runs.length < n && performance.now() < until) await sleep(5);
      assert.ok(runs.length >= n, `${runs.length} cycles started, wanted ${n}\n${lines.join('\n')}`);
    },
    async idle() {
      while (running > 0) await sleep(5);
    },
    async stop() {
      process.emit('SIGTERM');
      assert.equal(await done, 0);
      assert.equal(process.listenerCount('SIGUSR1'), listeners, 'the loop removed its SIGUSR1 listener');
    },
  };
}

test('SIGUSR1 while waiting runs a cycle at once, not at the next period (60 s)', async () => {
  const l = startLoop({ everyMs: 60_000 });
  try {
    await l.started(1);
    await l.idle();
    const sent = l.at();
    process.emit('SIGUSR1');
    await l.started(2);
    assert.ok(l.runs[1]!.start - sent < 2000, `the requested cycle started ${l.runs[1]!.start - sent} ms after the signal`);
    assert.ok(l.lines.some((x) => /^debug running a cycle now: asked for with SIGUSR1/.test(x)), l.lines.join('\n'));
  } finally {
    await l.stop();
  }
});

test('signals during a running cycle: exactly one more cycle right after it, never overlapping', async () => {
  const ms = 1500; // long enough that three signals 50 ms apart land inside it even on a loaded machine
  const l = startLoop({ everyMs: 60_000, ms });
  try {
    await l.started(1);
    for (let i = 0; i < 3; i++) {
      await sleep(50);
      process.emit('SIGUSR1');
    }
    assert.ok(l.at() < l.runs[0]!.start + ms, 'the signals were sent while the first cycle ran');
    assert.equal(l.runs.length, 1, 'no second cycle while the first runs');
    await l.started(2);
    assert.ok(l.runs[1]!.start >= l.runs[0]!.end, 'the second starts after the first ended');
    assert.ok(l.runs[1]!.start - l.runs[0]!.end < 1000, 'right after it');
    await sleep(ms + 1000); // past the second cycle's end: a third would have started by now
    assert.equal(l.runs.length, 2, 'three signals during one cycle owe one cycle, not three');
    assert.equal(l.overlap(), 0);
  } finally {
    await l.stop();
  }
});

test('the periodic schedule goes on: a requested cycle does not move the next periodic one', async () => {
  const l = startLoop({ everyMs: 4000 });
  try {
    await l.started(1);
    await sleep(2000 - l.at());
    process.emit('SIGUSR1');
    await l.started(3, 10_000);
    const [first, asked, periodic] = l.runs;
    assert.ok(asked!.start - first!.start < 3500, `the asked cycle at ${asked!.start - first!.start} ms`);
    // periodic at first + 4000 ms; had the request restarted the period it would be near 6000 ms
    const gap = periodic!.start - first!.start;
    assert.ok(gap >= 3990 && gap < 5300, `the periodic cycle ${gap} ms after the first (want ~4000)`);
  } finally {
    await l.stop();
  }
});

test('a requested cycle that finds the run lock busy (75) is tried again shortly; a periodic one is not', async () => {
  // run 0: periodic, busy (normal cron overlap: not retried); run 1: asked, busy -> retried; run 2: ok
  const l = startLoop({ everyMs: 60_000, codes: [75, 75, 0] });
  try {
    await l.started(1);
    await sleep(REQUEST_RETRY_MS + 300);
    assert.equal(l.runs.length, 1, 'a busy periodic cycle waits for the next period');
    process.emit('SIGUSR1');
    await l.started(3, 5000);
    const retryGap = l.runs[2]!.start - l.runs[1]!.end;
    assert.ok(retryGap >= REQUEST_RETRY_MS - 10 && retryGap < REQUEST_RETRY_MS + 1500, `retried after ${retryGap} ms`);
    await sleep(REQUEST_RETRY_MS + 500);
    assert.equal(l.runs.length, 3, 'once a requested cycle ran, nothing more is owed');
  } finally {
    await l.stop();
  }
});
