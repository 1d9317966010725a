// Durations as the config and CLI write them: "500ms", "2s", "1m", "1h".

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds for "500ms" | "2s" | "1m" | "1h" (a bare number is seconds); null when invalid. */
export function parseDuration(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * 1000 : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
}
