// Step tables for the watchdog state machine decide(): each row is one cycle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type Policy } from '../../src/core/decide.ts';
import type { WatchdogStateName } from '../../src/core/types.ts';

type Step = { live: number | null; held?: boolean; state: WatchdogStateName; action: 'add' | 'delete' | 'none' };

/** Run a step table; `configured` follows the actions, as the speaker would. */
function run(policy: Policy, configured: boolean, steps: Step[]): void {
  let prev: { state: WatchdogStateName; count: number } | undefined;
  steps.forEach((s, i) => {
    const d = decide(prev, { live: s.live, held: Boolean(s.held), configured }, policy);
    assert.deepEqual([d.next.state, d.action], [s.state, s.action], `step ${i}: live ${s.live}${s.held ? ' held' : ''} (configured ${configured})`);
    if (d.action === 'add') configured = true;
    if (d.action === 'delete') configured = false;
    prev = d.next;
  });
}

const P: Policy = { min: 1, restore: 2, rise: 1, fall: 1 };

test('live 0 withdraws at once with fall 1; restore needs restore_realservers (hysteresis)', () => {
  run(P, true, [
    { live: 3, state: 'up', action: 'none' },
    { live: 0, state: 'down', action: 'delete' },
    { live: 1, state: 'down', action: 'none' }, // 1 < restore 2: stays down
    { live: 2, state: 'up', action: 'add' },
    { live: 1, state: 'up', action: 'none' }, // 1 >= min: stays up
  ]);
});

test('fall 2 and rise 3 count consecutive cycles, and a good cycle resets the count', () => {
  run({ min: 1, restore: 1, rise: 3, fall: 2 }, true, [
    { live: 0, state: 'falling', action: 'none' },
    { live: 1, state: 'up', action: 'none' },
    { live: 0, state: 'falling', action: 'none' },
    { live: 0, state: 'down', action: 'delete' },
    { live: 1, state: 'rising', action: 'none' },
    { live: 0, state: 'down', action: 'none' },
    { live: 1, state: 'rising', action: 'none' },
    { live: 1, state: 'rising', action: 'none' },
    { live: 1, state: 'up', action: 'add' },
  ]);
});

test('a hold always wins, and is enforced when the VIP reappears in the config', () => {
  run(P, true, [
    { live: 5, held: true, state: 'held', action: 'delete' },
    { live: 5, held: true, state: 'held', action: 'none' },
  ]);
  run(P, false, [
    { live: 5, held: true, state: 'held', action: 'none' },
    { live: 5, state: 'up', action: 'add' }, // hold lifted (vip-mgmt -a): healthy, restore
  ]);
});

test('an unreadable table changes nothing (fail static)', () => {
  run(P, true, [
    { live: null, state: 'unknown', action: 'none' },
    { live: null, state: 'unknown', action: 'none' },
  ]);
  run(P, false, [{ live: null, state: 'unknown', action: 'none' }]);
});

test('a VIP with no IPVS service (live 0) is down; min 0 never withdraws', () => {
  run(P, false, [{ live: 0, state: 'down', action: 'none' }]);
  run({ min: 0, restore: 0, rise: 1, fall: 1 }, true, [{ live: 0, state: 'up', action: 'none' }]);
});
