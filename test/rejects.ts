// One assertion for "this call fails with that VipError": the code, the exit code when the test
// names one, and the message when it names a pattern. Returns the error for further checks.
import assert from 'node:assert/strict';
import { VipError, type ErrorCode } from '../src/core/errors.ts';

export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message?: RegExp, exit?: number): Promise<VipError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof VipError, `expected a VipError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (exit !== undefined) assert.equal(e.exit, exit);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${code}, got success`);
}
