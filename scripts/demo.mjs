#!/usr/bin/env node
// `npm run demo` on a fresh machine: install what is missing (npm packages, Debian's frr and dnsmasq),
// build, then run the lab demo (test/lab/demo.ts). Needs root: the lab uses network namespaces.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
const debs = { '/usr/lib/frr/bgpd': 'frr', '/usr/bin/vtysh': 'frr', '/usr/sbin/dnsmasq': 'dnsmasq-base', '/usr/sbin/ip': 'iproute2', '/bin/ip': 'iproute2' };
const want = [...new Set(Object.entries(debs).filter(([p]) => !existsSync(p)).map(([, d]) => d))].filter(
  (d) => !(d === 'iproute2' && (existsSync('/usr/sbin/ip') || existsSync('/bin/ip'))),
);
if (want.length > 0) {
  console.log(`demo: installing Debian packages: ${want.join(' ')}`);
  sh('apt-get', ['update', '-q']);
  sh('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...want], { DEBIAN_FRONTEND: 'noninteractive' });
}
if (!existsSync(join(root, 'node_modules', '.bin', 'tsc'))) sh('npm', ['ci', '--no-audit', '--no-fund']);
sh('npm', ['run', '-s', 'build']);
sh(process.execPath, ['--import', 'tsx', 'test/lab/demo.ts']);
