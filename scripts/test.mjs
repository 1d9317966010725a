#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner and the tsx loader (Node 20 has no
// glob support in --test). Extra arguments are passed through (e.g. a file list to narrow the run).
// First, the Debian packages the lab tests need are installed when missing (scripts/prereqs.mjs: as
// root; otherwise it says what is missing and those tests skip; with CI=true a missing one fails).
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensurePackages, LAB_PACKAGES } from './prereqs.mjs';

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (e.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
const list = files.length ? files : walk('test');
// a narrowed run without lab tests (e.g. one unit test file) leaves apt alone
if (list.some((f) => relative('test/lab', resolve(f)).split(/[\\/]/)[0] !== '..')) ensurePackages(LAB_PACKAGES, { who: 'npm test', lists: true });
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...list],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
