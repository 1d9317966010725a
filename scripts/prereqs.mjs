#!/usr/bin/env node
// The Debian packages the lab tests and the demo need, and the one installer both use (scripts/test.mjs
// before the test runner, scripts/demo.mjs before the demo; `node scripts/prereqs.mjs [--demo]` by hand).
//   root:          apt-get update once, then apt-get install -y --no-install-recommends what is missing
//   not root:      say what is missing; outside CI the lab tests that need it skip with the reason
//   CI=true:       anything still missing is a failure (exit 1), never a skip
//   VIP_MGMT_NO_INSTALL=1: only report, install nothing (a root shell that must not touch apt)
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Every Debian package a test in test/lab/ needs: FRR and dnsmasq for the host lab, qemu, busybox,
 *  cpio and kmod to build the IPVS VM (which also runs ipvsadm and keepalived), rsyslog for the
 *  syslog test, and the small tools the harnesses call (ip, pkill/ps, killall, logger). */
export const LAB_PACKAGES = [
  'frr', 'dnsmasq-base', 'qemu-system-x86', 'busybox-static', 'cpio', 'kmod', 'ipvsadm', 'keepalived', 'rsyslog',
  'iproute2', 'procps', 'psmisc', 'bsdutils',
  // the speaker conformance suite (test/lab/speakers.test.ts): each daemon as the LB
  'bird2', 'exabgp', 'gobgpd',
  // fleet mode (test/lab/fleet*.test.ts): a real etcd cluster, TLS certificates made with openssl
  'etcd-server', 'etcd-client', 'openssl',
];
/** `npm run demo`: FRR in network namespaces and dnsmasq on loopback. */
export const DEMO_PACKAGES = ['frr', 'dnsmasq-base', 'iproute2'];

const inCI = () => process.env.CI === 'true';
const isRoot = () => process.getuid?.() === 0;

/** The packages of PKGS that dpkg does not list as installed; null when this is no Debian system. */
export function missingPackages(pkgs) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...pkgs], { encoding: 'utf8' });
  if (r.error) return null; // no dpkg-query
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name.replace(/:.*$/, '')),
  );
  return pkgs.filter((p) => !installed.has(p));
}

/** True when apt knows no kernel for the IPVS VM and no VM build is cached: a fresh machine whose
 *  package lists were never fetched (test/lab/vm/build.sh needs them to download the kernel). */
function vmNeedsAptLists() {
  const cache = process.env.VIP_MGMT_LAB_CACHE || '/var/cache/vip-mgmt-lab';
  if (process.env.VIP_MGMT_LAB_KERNEL || existsSync(join(cache, 'current.env'))) return false;
  const r = spawnSync('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-amd64-unsigned$'], { encoding: 'utf8' });
  return !r.error && r.stdout.trim() === '';
}

function run(who, cmd, args) {
  console.log(`${who}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

/**
 * Make sure PKGS are installed, installing them as root. Returns the packages still missing (empty
 * when all is there). With CI=true anything still missing ends the process with exit 1.
 * `lists` also fetches apt's package lists when the IPVS VM's kernel could not be found otherwise.
 */
export function ensurePackages(pkgs, { who = 'prereqs', lists = false } = {}) {
  const fail = (msg) => {
    console.error(`${who}: ${msg}`);
    if (inCI()) {
      console.error(`${who}: CI=true, so a missing prerequisite is a failure, not a skip`);
      process.exit(1);
    }
  };
  const missing = missingPackages(pkgs);
  if (missing === null) {
    fail(`no dpkg-query: not a Debian system, so ${pkgs.join(' ')} cannot be checked or installed; lab tests whose tools are missing skip with the reason`);
    return pkgs;
  }
  const wantLists = lists && vmNeedsAptLists();
  if (missing.length === 0 && !wantLists) return [];
  const what = missing.length ? `missing Debian packages: ${missing.join(' ')}` : 'apt package lists (the IPVS VM downloads its kernel with apt-get)';
  if (!isRoot() || process.env.VIP_MGMT_NO_INSTALL === '1') {
    const why = isRoot() ? 'VIP_MGMT_NO_INSTALL=1' : 'not root';
    const how = missing.length ? `apt-get update && apt-get install --no-install-recommends ${missing.join(' ')}` : 'apt-get update';
    fail(`${what}; ${why}, so nothing is installed (as root: ${how}); the lab tests that need them skip with the reason`);
    return missing;
  }
  console.log(`${who}: installing ${what} (a fresh Debian 12 fetches about 190 packages, 75 MB: a few minutes)`);
  // apt-get update once: a fresh machine (or container) has no package lists at all
  const ok = run(who, 'apt-get', ['update', '-q']) && (missing.length === 0 || run(who, 'apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing]));
  const still = missingPackages(pkgs) ?? pkgs;
  if (!ok || still.length > 0) fail(`apt-get failed${still.length ? `; still missing: ${still.join(' ')}` : ''}`);
  return still;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const demo = process.argv.includes('--demo');
  const still = ensurePackages(demo ? DEMO_PACKAGES : LAB_PACKAGES, { who: 'prereqs', lists: !demo });
  if (still.length === 0) console.log(`prereqs: ${(demo ? DEMO_PACKAGES : LAB_PACKAGES).join(' ')}: installed`);
  process.exit(still.length === 0 ? 0 : 1);
}
