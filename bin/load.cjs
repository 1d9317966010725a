// Loads dist/bundle/vip-mgmt.cjs with V8's code cache (dist/bundle/vip-mgmt.cjs.cache, written by
// scripts/code-cache.mjs at build time): the bundle's functions arrive compiled instead of being
// parsed and compiled on every run, ~60 ms of a `-d`'s ~250 (BENCHMARKS.md, section B).
//
// The cache is trusted like the code beside it (same directory, same owner), and used only when its
// header holds the SHA-256 of the bundle's text: V8 itself checks only the source length, its own
// version and flags. A missing, stale or rejected cache (another Node version) costs nothing but the
// speed-up: V8 compiles the source as it would without one.
//
// CommonJS, as bin/vip-mgmt is (bin/package.json): Node's ES module loader cost ~5% of a
// `--version` (farm-bench, 20 pairs) before any of our code ran.
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'bundle', 'vip-mgmt.cjs');
const CACHE = `${BUNDLE}.cache`;
const HEADER = 32; // bytes: SHA-256 of the bundle's text
// what node's CommonJS loader puts around a module (Module.wrap)
const wrap = (text) => `(function (exports, require, module, __filename, __dirname) { ${text}\n});`;

const digest = (text) => createHash('sha256').update(text).digest();

/** Compile and run the bundle; returns its exports ({ main }) and the Script (for createCachedData). */
function loadBundle({ useCache = true } = {}) {
  // ASCII (scripts/bundle.mjs checks): latin1 decodes it to the same string, faster than UTF-8
  const text = readFileSync(BUNDLE, 'latin1');
  let cachedData;
  if (useCache) {
    try {
      const c = readFileSync(CACHE);
      if (c.length > HEADER && c.subarray(0, HEADER).equals(digest(text))) cachedData = c.subarray(HEADER);
    } catch {
      // no cache: compile from source
    }
  }
  const script = new Script(wrap(text), { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return { exports: module.exports, script, text };
}

module.exports = { BUNDLE, CACHE, digest, loadBundle };
