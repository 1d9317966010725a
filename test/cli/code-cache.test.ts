// bin/load.cjs: the built bundle runs with its V8 code cache, and only with the cache made for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import load from '../../bin/load.cjs';

const { BUNDLE, CACHE } = load;

/** A copy of bin/ and dist/bundle/ in a scratch dir; runs a probe there that reports what V8 did with the cache. */
function probe(edit?: (cache: Buffer) => Buffer): { rejected: boolean | null; exports: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'vip-mgmt-cc-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'dist', 'bundle'), { recursive: true });
    copyFileSync(new URL('../../bin/load.cjs', import.meta.url), join(dir, 'bin', 'load.cjs'));
    copyFileSync(BUNDLE, join(dir, 'dist', 'bundle', 'vip-mgmt.cjs'));
    const cache = readFileSync(CACHE);
    writeFileSync(join(dir, 'dist', 'bundle', 'vip-mgmt.cjs.cache'), edit ? edit(cache) : cache);
    const code = `import load from './bin/load.cjs'; const { loadBundle } = load; const { script, exports } = loadBundle(); console.log(JSON.stringify({ rejected: script.cachedDataRejected ?? null, exports: Object.keys(exports) }));`;
    writeFileSync(join(dir, 'probe.mjs'), code);
    const r = spawnSync(process.execPath, [join(dir, 'probe.mjs')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the code cache made at build time is accepted by this node', () => {
  assert.deepEqual(probe(), { rejected: false, exports: ['main'] });
});

test('a cache whose header does not match the bundle is not used (V8 checks only the length)', () => {
  const r = probe((c) => {
    const x = Buffer.from(c);
    x[0] = x[0]! ^ 0xff;
    return x;
  });
  // no cachedData given: V8 reports no verdict (null here), and the bundle still runs from its source
  assert.deepEqual(r, { rejected: null, exports: ['main'] });
});

test('a truncated cache is not used', () => {
  assert.deepEqual(probe((c) => c.subarray(0, 20)), { rejected: null, exports: ['main'] });
});
