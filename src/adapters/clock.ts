// The wall clock, behind an interface so the pure core and the tests never read time themselves.
import type { Clock } from '../core/types.js';

export const systemClock: Clock = { now: () => new Date() };
