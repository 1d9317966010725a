// Pure helpers for the persisted state document: an empty one, its key rules and hold edits. The
// shape rule itself (checkState, zod) is in statecheck.ts, loaded only when a file must be checked.
import { normalisePrefix } from './prefix.js';
import type { Hold, State } from './types.js';

export function emptyState(): State {
  return { version: 1, holds: {}, watchdog: {}, dns: {} };
}

// Keys are checked by hand, not by a zod record key schema: zod skips an own "__proto__" key (which
// JSON.parse does create) without a word, and such a key must be refused, not ignored.

/** A key of holds/watchdog/announced: a host prefix exactly as normalisePrefix writes it. */
export function isPrefixKey(key: string): boolean {
  if (key.includes('%')) return false; // zone ids name an interface, never a VIP
  const n = normalisePrefix(key);
  return n === key && (n.endsWith(key.includes(':') ? '/128' : '/32'));
}

/** A key of dns: a name as asked, non-empty, no control characters (they would reach the logs). */
export function isNameKey(key: string): boolean {
  return key.length > 0 && key.length <= 1024 && !/[\u0000-\u001f\u007f-\u009f]/.test(key);
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
