// Durations as the config and CLI write them: "500ms", "2s", "1m", "1h", always with a unit.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Longest duration accepted: Node's timers hold 2^31-1 ms (about 24.8 days) and fire after 1 ms
 *  for anything longer, which would turn "30 days" into a busy loop. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export interface DurationRules {
  /** Accept zero ("0", "0s"): for waits where none is meaningful (--lock-wait 0). Never for
   *  timeouts: a zero timeout disables it (vtysh would hang the run forever). */
  allowZero?: boolean;
}

const EXAMPLES = 'e.g. 500ms, 2s, 1m';

/** The milliseconds of VALUE, or why it is not an acceptable duration (a sentence to show after
 *  the option or key name). Never throws, whatever VALUE is. */
export function checkDuration(value: unknown, rules: DurationRules = {}): { ms: number } | { problem: string } {
  const shown =
    typeof value === 'string'
      ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)
      : typeof value === 'number' || typeof value === 'boolean' || value === null
        ? String(value)
        : Array.isArray(value) ? 'a list' : `a ${typeof value === 'object' ? 'mapping' : typeof value}`;
  const bare = (typeof value === 'number' && Number.isFinite(value) && value >= 0) || (typeof value === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(value));
  if (bare && rules.allowZero && Number(value) === 0) return { ms: 0 };
  if (bare) {
    const n = String(value).trim();
    return { problem: `${shown} has no unit: add one, e.g. "${n}s" or "${n}ms"` };
  }
  if (typeof value !== 'string') return { problem: `${shown} is not a duration (${EXAMPLES})` };
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!m) return { problem: `invalid duration ${shown} (${EXAMPLES}; units ms, s, m, h)` };
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  if (ms === 0 && !rules.allowZero) {
    return { problem: `${shown} is ${Number(m[1]) === 0 ? 'zero' : 'under 1ms'}: a duration must be more than 0 (${EXAMPLES})` };
  }
  if (!(ms <= MAX_DURATION_MS)) {
    return { problem: `${shown} is too long: at most ${MAX_DURATION_MS}ms (about 24.8 days, the limit of Node's timers)` };
  }
  return { ms };
}

/** Milliseconds for "500ms" | "2s" | "1m" | "1h"; null when checkDuration refuses it. */
export function parseDuration(value: unknown, rules: DurationRules = {}): number | null {
  const r = checkDuration(value, rules);
  return 'ms' in r ? r.ms : null;
}
