#!/usr/bin/env node
// `npm run demo` on a fresh machine: install what is missing (npm packages, Debian's frr and dnsmasq),
// build, then run the lab demo (test/lab/demo.ts). Needs root: the lab uses network namespaces.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_PACKAGES, ensurePackages } from './prereqs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sh = (cmd, args, env = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`demo: ${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
};

if (process.getuid?.() !== 0) {
  console.error('demo: run as root (sudo npm run demo): the lab creates network namespaces and starts FRR daemons');
  process.exit(2);
}
// the same list and installer as npm test's (scripts/prereqs.mjs)
if (ensurePackages(DEMO_PACKAGES, { who: 'demo' }).length > 0) process.exit(1);
if (!existsSync(join(root, 'node_modules', '.bin', 'tsc'))) sh('npm', ['ci', '--no-audit', '--no-fund']);
sh('npm', ['run', '-s', 'build']);
sh(process.execPath, ['--import', 'tsx', 'test/lab/demo.ts']);
