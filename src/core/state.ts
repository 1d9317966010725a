// Pure helpers for the persisted state document: an empty one, a shape check, and hold edits.
import type { Hold, State } from './types.js';

export function emptyState(): State {
  return { version: 1, holds: {}, watchdog: {}, dns: {} };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** null when the document has the State shape, else what is wrong with it. */
export function checkState(data: unknown): string | null {
  if (!isObj(data)) return 'not a JSON object';
  if (data.version !== 1) return `unknown version ${JSON.stringify(data.version)}`;
  for (const k of ['holds', 'watchdog', 'dns'] as const) {
    if (!isObj(data[k])) return `"${k}" is not an object`;
  }
  for (const [p, h] of Object.entries(data.holds as Record<string, unknown>)) {
    if (!isObj(h) || typeof h.reason !== 'string' || typeof h.since !== 'string') return `hold for ${p} is malformed`;
  }
  return null;
}

export function setHolds(state: State, prefixes: string[], hold: Hold): State {
  const holds = { ...state.holds };
  for (const p of prefixes) holds[p] = { ...hold, names: [...new Set([...(state.holds[p]?.names ?? []), ...hold.names])].sort() };
  return { ...state, holds };
}

export function clearHolds(state: State, prefixes: string[]): State {
  const holds = { ...state.holds };
  for (const p of prefixes) delete holds[p];
  return { ...state, holds };
}
