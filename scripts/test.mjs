#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner and the tsx loader (Node 20 has no
// glob support in --test). Extra arguments are passed through (e.g. a file list to narrow the run).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

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
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...list],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
