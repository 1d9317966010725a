// Fuzzing harness shared by test/fuzz/*.test.ts: fast-check with a fixed seed, seed-text mutators, and a
// property that lets a parser throw only VipError and times every input against a 100 ms CPU budget.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { VipError } from '../../src/core/errors.ts';

/** Fixed seed: a failure reproduces run after run. VIP_FUZZ_SEED explores other seeds by hand. */
export const SEED = Number(process.env.VIP_FUZZ_SEED ?? 20261127);
/** Inputs per parser. VIP_FUZZ_RUNS raises it for a longer hunt (CI keeps the default). */
export const RUNS = Number(process.env.VIP_FUZZ_RUNS ?? 10_000);
/** Budget for one input, in CPU milliseconds of this process. */
export const LIMIT_MS = 100;
const RETIME_MS = LIMIT_MS / 4;

export interface FuzzResult {
  inputs: number;
  /** slowest input, those over a quarter of the budget timed again (best of 3) so that a pause of
   *  the shared machine (GC, another process on the 2 cores) is not blamed on the parser */
  maxMs: number;
  /** slowest first timing, before any re-timing */
  rawMaxMs: number;
  /** how often each outcome label came back: shows the inputs reach past the first check */
  labels: Map<string, number>;
  vipErrors: number;
  /** size of the slowest input */
  slowest: string;
}

/**
 * Run CHECK on RUNS inputs of ARB with the fixed seed. CHECK may throw VipError (the project's one
 * failure type: the caller turns it into an exit code) and nothing else; it returns a label for
 * the outcome (counted) or nothing. Fails with fast-check's shrunk counterexample on another
 * exception or an input slower than LIMIT_MS.
 */
export function fuzz<T>(arb: fc.Arbitrary<T>, check: (input: T) => string | void, opts: { runs?: number; seed?: number } = {}): FuzzResult {
  const result: FuzzResult = { inputs: 0, maxMs: 0, rawMaxMs: 0, labels: new Map(), vipErrors: 0, slowest: '' };
  // The budget counts this process's CPU time, not the wall clock: on the shared 2-core machine
  // (CI runs lab suites side by side) waiting for a core is not the parser's time. It stays a real
  // bound: a parser that does 100 ms of work on one input fails whatever the machine's load.
  const once = (input: T): { ms: number; label: string } => {
    const c0 = process.cpuUsage();
    let label: string;
    try {
      label = check(input) ?? 'ok';
    } catch (e) {
      if (!(e instanceof VipError)) throw e;
      label = `VipError ${e.code}`;
    }
    const c = process.cpuUsage(c0);
    return { ms: (c.user + c.system) / 1000, label };
  };
  const details = fc.check(
    fc.property(arb, (input) => {
      let { ms, label } = once(input);
      result.rawMaxMs = Math.max(result.rawMaxMs, ms);
      // A slow first timing is timed again (best of 3): on a shared 2-core machine a GC pause or a
      // neighbour's burst can take tens of ms from any input, and the budget is about the parser.
      if (ms > RETIME_MS) for (let i = 0; i < 2; i++) ms = Math.min(ms, once(input).ms);
      if (ms > LIMIT_MS) throw new Error(`input took ${ms.toFixed(1)} ms (limit ${LIMIT_MS} ms), ${describeSize(input)}`);
      result.inputs++;
      if (ms > result.maxMs) {
        result.maxMs = ms;
        result.slowest = describeSize(input);
        // VIP_FUZZ_DUMP=FILE keeps the slowest input, for profiling a parser by hand
        if (process.env.VIP_FUZZ_DUMP) writeFileSync(process.env.VIP_FUZZ_DUMP, typeof input === 'string' || input instanceof Uint8Array ? input : JSON.stringify(input, dumpable));
      }
      if (label.startsWith('VipError')) result.vipErrors++;
      result.labels.set(label, (result.labels.get(label) ?? 0) + 1);
    }),
    { seed: opts.seed ?? SEED, numRuns: opts.runs ?? RUNS },
  );
  if (details.failed) {
    // fast-check's own report prints the whole (shrunk) input; a 64 KB one drowns the reason
    const cex = JSON.stringify(details.counterexample, dumpable) ?? String(details.counterexample);
    const shown = cex.length > 2000 ? `${cex.slice(0, 1000)} ...(${cex.length - 2000} more)... ${cex.slice(-1000)}` : cex;
    const why = details.errorInstance instanceof Error ? details.errorInstance.stack ?? details.errorInstance.message : String(details.errorInstance);
    throw new Error(
      `fuzz failed after ${details.numRuns} inputs (seed ${details.seed}, path "${details.counterexamplePath}", shrunk ${details.numShrinks} times): ${why}\ncounterexample: ${shown}`,
    );
  }

  return result;
}

const dumpable = (_: string, v: unknown): unknown =>
  v instanceof Map ? Object.fromEntries(v) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v;

function describeSize(input: unknown): string {
  if (typeof input === 'string') return `${input.length} characters`;
  if (input instanceof Uint8Array) return `${input.length} bytes`;
  return 'structured input';
}

/** Print the result (TAP diagnostic + stdout) and assert the budget in a subtest named after the max. */
export async function report(t: TestContext, what: string, r: FuzzResult, runs = RUNS): Promise<void> {
  const labels = [...r.labels].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  const line = `fuzz ${what}: ${r.inputs} inputs (seed ${SEED}), max ${r.maxMs.toFixed(2)} ms per input (${r.slowest}; first timing ${r.rawMaxMs.toFixed(2)} ms), ${r.vipErrors} VipError; outcomes: ${labels}`;
  t.diagnostic(line);
  await t.test(`${what}: ${r.inputs} inputs, max ${r.maxMs.toFixed(2)} ms per input (limit ${LIMIT_MS} ms)`, () => {
    assert.equal(r.inputs, runs);
    assert.ok(r.maxMs < LIMIT_MS);
  });
}

// ---- text mutation ------------------------------------------------------------------------

/** Numbers a parser has to survive: signs, overflow (the 400-digit weight), floats, hex. */
export const NUMBERS = ['0', '-1', '-0', '1', '65535', '65536', '4294967295', '4294967296', '9007199254740993', '9'.repeat(400), '1e309', '1.5', 'NaN', 'Infinity', '0x10', 'FFFFFFFF', 'FFFFFFFFFFFFFFFF', ''];
/** Characters that break naive splitting, terminals and logs. */
export const ODD = ['\r', '\r\n', '\t', '\0', '\x1b[31m', '\x1b]0;x\x07', '\u2028', '\u2029', '\u0085', '\ufeff', '\ud800', 'é', '𝟘', ' ', '  ', '"', "'", '\\', '[', ']', ':', '::', '/', '#', '!', '{', '}'];

type Mutation =
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; len: number }
  | { op: 'replace'; at: number; len: number; text: string }
  | { op: 'truncate'; at: number }
  | { op: 'repeat'; at: number; len: number; times: number }
  | { op: 'dupLine' | 'dropLine'; line: number }
  | { op: 'swapLines'; line: number; other: number }
  | { op: 'number'; nth: number; text: string }
  | { op: 'spaces'; with: string };

/** Mutations of a text: TOKENS are the format's own words, so a mutant still looks like the format. */
export function mutationArb(tokens: readonly string[]): fc.Arbitrary<Mutation> {
  const pos = fc.nat();
  const junk = fc.oneof(
    fc.constantFrom(...tokens),
    fc.constantFrom(...ODD),
    fc.constantFrom(...NUMBERS),
    fc.string({ unit: 'binary-ascii', maxLength: 6 }),
    fc.string({ unit: 'binary', maxLength: 3 }),
  );
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('insert' as const), at: pos, text: junk }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), at: pos, len: fc.integer({ min: 1, max: 40 }) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at: pos, len: fc.integer({ min: 1, max: 12 }), text: junk }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: pos }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('repeat' as const), at: pos, len: fc.integer({ min: 1, max: 80 }), times: fc.integer({ min: 2, max: 3000 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('dupLine' as const, 'dropLine' as const), line: pos }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('swapLines' as const), line: pos, other: pos }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('number' as const), nth: pos, text: fc.constantFrom(...NUMBERS) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('spaces' as const), with: fc.constantFrom('\t', '', '   ', '\r', '\u00a0') }) },
  );
}

/**
 * Characters one 'repeat' mutation may add. 32 KB by default: enough for quadratic behaviour to blow
 * the budget many times over (32K^2 steps take seconds) while a linear parser stays well inside it,
 * also with the other test files running beside it (sheer volume is bench/'s job, not the fuzzer's).
 * A format whose linear cost is higher per byte passes a smaller one.
 */
export const DEFAULT_GROWTH = 32_000;

export function applyMutation(s: string, m: Mutation, maxGrowth = DEFAULT_GROWTH): string {
  const at = (n: number) => n % (s.length + 1);
  switch (m.op) {
    case 'insert':
      return s.slice(0, at(m.at)) + m.text + s.slice(at(m.at));
    case 'delete':
      return s.slice(0, at(m.at)) + s.slice(at(m.at) + m.len);
    case 'replace':
      return s.slice(0, at(m.at)) + m.text + s.slice(at(m.at) + m.len);
    case 'truncate':
      return s.slice(0, at(m.at));
    case 'repeat': {
      const from = at(m.at);
      const piece = s.slice(from, from + m.len);
      const times = Math.min(m.times, Math.floor(maxGrowth / Math.max(1, piece.length)));
      return s.slice(0, from) + piece.repeat(times) + s.slice(from);
    }
    case 'dupLine':
    case 'dropLine': {
      const lines = s.split('\n');
      const i = m.line % lines.length;
      if (m.op === 'dupLine') lines.splice(i, 0, lines[i]!);
      else lines.splice(i, 1);
      return lines.join('\n');
    }
    case 'swapLines': {
      const lines = s.split('\n');
      const i = m.line % lines.length;
      const j = m.other % lines.length;
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join('\n');
    }
    case 'number': {
      const spans = [...s.matchAll(/[0-9A-Fa-f]+/g)];
      if (spans.length === 0) return s;
      const hit = spans[m.nth % spans.length]!;
      return s.slice(0, hit.index) + m.text + s.slice(hit.index! + hit[0].length);
    }
    case 'spaces':
      return s.replace(/ +/g, m.with);
  }
}

/** A seed text with 1..MAX mutations applied in turn (fast-check shrinks toward fewer, smaller ones). */
export function mutated(seeds: readonly string[], tokens: readonly string[], opts: { max?: number; growth?: number } = {}): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(mutationArb(tokens), { minLength: 1, maxLength: opts.max ?? 6 }))
    .map(([seed, ms]) => ms.reduce((s, m) => applyMutation(s, m, opts.growth), seed));
}

/** Lines of TOKENS and junk joined by spaces: inputs that share the format's words but not its grammar. */
export function tokenLines(tokens: readonly string[], opts: { indent?: boolean } = {}): fc.Arbitrary<string> {
  const word = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...tokens) },
    { weight: 2, arbitrary: fc.constantFrom(...NUMBERS) },
    { weight: 1, arbitrary: fc.constantFrom(...ODD) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 8 }) },
  );
  const line = fc.tuple(opts.indent ? fc.constantFrom('', ' ', '  ', '\t') : fc.constant(''), fc.array(word, { minLength: 0, maxLength: 8 })).map(
    ([ind, ws]) => ind + ws.join(' '),
  );
  return fc.array(line, { maxLength: 40 }).map((ls) => ls.join('\n'));
}

// ---- bytes --------------------------------------------------------------------------------

type ByteMutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'u16'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'truncate'; at: number }
  | { op: 'pointer'; at: number; target: number };

export function byteMutationArb(): fc.Arbitrary<ByteMutation> {
  const pos = fc.nat();
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), at: pos, value: fc.oneof(fc.constantFrom(0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff), fc.integer({ min: 0, max: 255 })) }) },
    // counts, lengths, types, ids: the 16-bit fields a decoder trusts
    { weight: 4, arbitrary: fc.record({ op: fc.constant('u16' as const), at: pos, value: fc.oneof(fc.constantFrom(0, 1, 2, 5, 0x00ff, 0x7fff, 0x8000, 0xffff), fc.integer({ min: 0, max: 0xffff })) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: pos, len: fc.integer({ min: 1, max: 16 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: pos }) },
    // compression pointers: to the start, to themselves, forward, past the end
    { weight: 2, arbitrary: fc.record({ op: fc.constant('pointer' as const), at: pos, target: fc.integer({ min: 0, max: 0x3fff }) }) },
  );
}

export function applyByteMutation(b: Uint8Array, m: ByteMutation): Uint8Array {
  const n = b.length;
  const at = (x: number) => (n === 0 ? 0 : x % n);
  const copy = () => Uint8Array.from(b);
  switch (m.op) {
    case 'flip': {
      if (n === 0) return b;
      const c = copy();
      c[at(m.at)]! ^= 1 << m.bit;
      return c;
    }
    case 'set': {
      if (n === 0) return b;
      const c = copy();
      c[at(m.at)] = m.value;
      return c;
    }
    case 'u16':
    case 'pointer': {
      if (n < 2) return b;
      const c = copy();
      const i = at(m.at) % (n - 1);
      const v = m.op === 'u16' ? m.value : 0xc000 | (m.target % Math.max(1, n + 4));
      c[i] = v >> 8;
      c[i + 1] = v & 0xff;
      return c;
    }
    case 'insert': {
      const i = m.at % (n + 1);
      const c = new Uint8Array(n + m.bytes.length);
      c.set(b.subarray(0, i));
      c.set(m.bytes, i);
      c.set(b.subarray(i), i + m.bytes.length);
      return c;
    }
    case 'delete': {
      const i = m.at % (n + 1);
      const c = new Uint8Array(Math.max(0, n - Math.min(m.len, n - i)));
      c.set(b.subarray(0, i));
      c.set(b.subarray(i + m.len), i);
      return c;
    }
    case 'truncate':
      return b.slice(0, m.at % (n + 1));
  }
}

/** 0..MAX byte mutations of B (0: the seed itself goes through too, as the well-formed case). */
export function mutatedBytes(b: fc.Arbitrary<Uint8Array>, max = 4): fc.Arbitrary<Uint8Array> {
  return fc.tuple(b, fc.array(byteMutationArb(), { maxLength: max })).map(([bytes, ms]) => ms.reduce(applyByteMutation, bytes));
}
