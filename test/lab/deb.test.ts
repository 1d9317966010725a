// Lab: the .deb (scripts/deb.mjs) built with dpkg-deb, installed by dpkg into a throw-away root
// (--root: its own admin dir and log, so this machine's dpkg database never sees it), run with this
// machine's node, and removed again without a trace. Needs dist/ from `npm run build` (npm test runs it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT } from './cli.ts';
import { requireLab } from './prereq.ts';

const NEEDS = ['dpkg-deb', 'dpkg', 'gzip'];
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const EPOCH = '1790000000'; // any fixed time: two builds must give the same bytes

let dir: string;
let root: string; // the throw-away root dpkg installs into
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vip-deb-'));
  root = join(dir, 'root');
  // an empty dpkg database of its own: dpkg --root=R uses R/var/lib/dpkg
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'var/log']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'var/lib/dpkg/status'), '');
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = { ...process.env, NO_COLOR: '1', SOURCE_DATE_EPOCH: EPOCH, TZ: 'UTC' };
const run = (file: string, args: string[]) => execFileSync(file, args, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** dpkg on the throw-away root: its own log; nodejs is not in that empty database (--force-depends);
 *  --force-not-root and --force-bad-path let it run unprivileged and without sbin on PATH. */
const dpkg = (args: string[]) => run('dpkg', [`--root=${root}`, `--log=${join(root, 'var/log/dpkg.log')}`, '--force-not-root', '--force-bad-path', ...args]);
const buildDeb = (out: string) => run(process.execPath, [join(ROOT, 'scripts/deb.mjs'), '--out', out]).trim();

/** Every path under the root except dpkg's own database and log, sorted. */
function tree(base = root, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(base, rel)).sort()) {
    const p = rel ? `${rel}/${e}` : e;
    if (p === 'var/lib/dpkg' || p === 'var/log') continue;
    out.push(p);
    if (lstatSync(join(base, p)).isDirectory()) out.push(...tree(base, p));
  }
  return out;
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
let deb = '';

test('scripts/deb.mjs (npm run deb) builds vip-mgmt_<version>_all.deb: control fields, root-owned, fixed mtimes, no maintainer scripts, reproducible', (t) => {
  if (!requireLab(t, NEEDS)) return;
  deb = buildDeb(join(dir, 'a'));
  assert.equal(deb, join(dir, 'a', `vip-mgmt_${version}_all.deb`));
  const again = buildDeb(join(dir, 'b'));
  assert.equal(sha(again), sha(deb), 'two builds with one SOURCE_DATE_EPOCH give the same bytes');

  const field = (f: string) => run('dpkg-deb', ['-f', deb, f]).trim();
  assert.equal(field('Package'), 'vip-mgmt');
  assert.equal(field('Version'), version);
  assert.equal(field('Architecture'), 'all');
  assert.equal(field('Section'), 'net');
  assert.equal(field('Depends'), 'nodejs (>= 20)');
  assert.equal(field('Recommends'), 'frr | bird2, ipvsadm');
  assert.match(field('Maintainer'), /^[^<>]+ <[^@\s]+@[^>\s]+>$/);
  assert.match(field('Description'), /^announce service VIPs over BGP.*\n .+/);
  // owned by root whoever built it; every mtime is SOURCE_DATE_EPOCH
  const listing = run('dpkg-deb', ['--contents', deb]).trim().split('\n');
  for (const line of listing) assert.match(line, /^\S+ root\/root /, line);
  const stamp = new Date(Number(EPOCH) * 1000).toISOString().slice(0, 16).replace('T', ' ');
  for (const line of listing) assert.ok(line.includes(` ${stamp} `), `${line}: not ${stamp} (UTC)`);
  // nothing runs at install or removal: the units stay disabled until the operator enables one
  const control = run('dpkg-deb', ['--info', deb]);
  for (const script of ['preinst', 'postinst', 'prerm', 'postrm']) assert.ok(!new RegExp(`\\b${script}\\b`).test(control), `${script} in the package`);
});

test('dpkg -i into a throw-away root: the installed vip-mgmt runs (--version, cron without templates/ beside it), man page, completion, units', (t) => {
  if (!requireLab(t, NEEDS)) return;
  assert.ok(deb, 'the build test ran first');
  dpkg(['--force-depends', '--install', deb]);
  const bin = join(root, 'usr/bin/vip-mgmt');

  // /usr/bin/vip-mgmt: a relative symlink to the single-file bundle, started by #!/usr/bin/node
  assert.equal(readlinkSync(bin), '../share/vip-mgmt/vip-mgmt.mjs');
  assert.equal(readFileSync(bin, 'utf8').split('\n')[0], '#!/usr/bin/node');
  assert.equal(run(process.execPath, [bin, '--version']).trim(), version);
  if (existsSync('/usr/bin/node')) assert.equal(run(bin, ['--version']).trim(), version, 'through its own #! line');

  // cron: the templates are inside the bundle; nothing named templates was installed anywhere
  assert.ok(!tree().some((p) => p.split('/').includes('templates')), tree().join('\n'));
  const cfg = join(dir, 'config.yaml');
  writeFileSync(cfg, 'dc: par1\nvip_prefixes: [192.0.2.0/24]\ndatacenters: { par1: { asn: 64512 } }\nservices: []\nlog: { syslog: false }\n');
  const cron = run(process.execPath, [bin, '-c', cfg, 'cron']);
  assert.match(cron, /^# \/etc\/cron\.d\/vip-mgmt: run the vip-mgmt watchdog/);
  // the path it was started by (what /usr/bin/vip-mgmt is on a real install), not the symlink's target
  assert.ok(cron.trimEnd().endsWith(`\n* * * * * root ${bin} watchdog -q -c ${cfg}`), cron);

  // the shipped example configuration is valid
  const example = join(root, 'usr/share/doc/vip-mgmt/examples/config.yaml');
  assert.match(run(process.execPath, [bin, '-c', example, 'config', 'check', '--no-resolve']), /OK/);

  // man page, gzip -9n (no name, no time stamp: bytes 4-7 of the header are 0), every command in it
  const manGz = readFileSync(join(root, 'usr/share/man/man1/vip-mgmt.1.gz'));
  assert.equal(manGz.readUInt32LE(4), 0, 'gzip header carries a time stamp');
  assert.equal(manGz[3]! & 0x08, 0, 'gzip header carries a file name');
  const man = gunzipSync(manGz).toString();
  assert.match(man, /^\.TH VIP-MGMT 1 /);
  for (const c of ['add', 'delete', 'status', 'watchdog', 'render', 'config', 'doctor', 'cron']) assert.match(man, new RegExp(`^\\.SS ${c}$`, 'm'));

  // bash completion where bash-completion looks it up on demand (by the command's name)
  const completion = join(root, 'usr/share/bash-completion/completions/vip-mgmt');
  const words = run('bash', ['-c', `source '${completion}'; COMP_WORDS=(vip-mgmt wat); COMP_CWORD=1; _vip_mgmt; echo "\${COMPREPLY[*]}"`]);
  assert.equal(words.trim(), 'watchdog');

  // units in /lib/systemd/system running the installed path; none enabled (no .wants links anywhere)
  for (const unit of ['vip-mgmt-watchdog.service', 'vip-mgmt-watchdog.timer', 'vip-mgmt-watchdogd.service']) {
    assert.ok(existsSync(join(root, 'lib/systemd/system', unit)), unit);
  }
  for (const unit of ['vip-mgmt-watchdog.service', 'vip-mgmt-watchdogd.service']) {
    assert.match(readFileSync(join(root, 'lib/systemd/system', unit), 'utf8'), /^ExecStart=\/usr\/bin\/vip-mgmt watchdog .*-q -c \/etc\/vip-mgmt\/config\.yaml$/m);
  }
  assert.ok(!tree().some((p) => p.includes('.wants')), 'a unit is enabled');

  // /etc/vip-mgmt/ exists and is empty (the operator's config goes there, nothing is overwritten)
  assert.deepEqual(readdirSync(join(root, 'etc/vip-mgmt')), []);
  for (const f of ['copyright', 'changelog.gz']) assert.ok(existsSync(join(root, 'usr/share/doc/vip-mgmt', f)), f);
  assert.match(readFileSync(join(root, 'usr/share/doc/vip-mgmt/copyright'), 'utf8'), /^Files: node_modules\/commander\/\*$/m);
  // dpkg's own view: the status database under the root says installed
  assert.match(run('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f=${Status} ${Version}', 'vip-mgmt']), new RegExp(`^install ok installed ${version.replace(/\./g, '\\.')}$`));
});

test('dpkg -r removes every file it installed, and the directories it created', (t) => {
  if (!requireLab(t, NEEDS)) return;
  assert.ok(existsSync(join(root, 'usr/bin/vip-mgmt')), 'the install test ran first');
  const listed = run('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-L', 'vip-mgmt']).trim().split('\n').filter((p) => p !== '/.');
  assert.ok(listed.includes('/usr/share/vip-mgmt/vip-mgmt.mjs') && listed.includes('/usr/bin/vip-mgmt'), listed.join('\n'));
  dpkg(['--remove', 'vip-mgmt']);
  const left = tree();
  // var/ and var/lib/ hold dpkg's own database; nothing else may stay
  assert.deepEqual(left, ['var', 'var/lib'], `left behind:\n${left.join('\n')}`);
  for (const p of listed) assert.ok(!existsSync(join(root, p)) || ['/var', '/var/lib'].includes(p), p);
  const status = spawnSync('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f=${db:Status-Abbrev}', 'vip-mgmt'], { encoding: 'utf8' });
  assert.match(status.stdout, /^rc ?$|^un ?$|^$/, `still known to the root's dpkg: ${status.stdout}`);
});
