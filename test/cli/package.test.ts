// Deployment: `npm pack` gives a package that installs offline (its dependencies are bundled), runs
// and links its man page; dist/vip-mgmt.mjs runs alone with only node, its templates inside; the man
// page and bash completion are generated. (The .deb: test/lab/deb.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lab/cli.ts';

let dir: string;
let cfg: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vip-pkg-'));
  cfg = join(dir, 'config.yaml');
  // services: [] renders without DNS
  await writeFile(cfg, 'dc: par1\nvip_prefixes: [192.0.2.0/24]\ndatacenters: { par1: { asn: 64512 } }\nservices: []\nlog: { syslog: false }\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sh = (file: string, args: string[], cwd = ROOT) => execFileSync(file, args, { cwd, env: { ...process.env, NO_COLOR: '1' } }).toString();
/** Runs and returns exit code, stdout and stderr, never throwing on a non-zero exit. */
const runAll = (file: string, args: string[], cwd: string) => {
  const r = spawnSync(file, args, { cwd, env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('npm pack: installs offline with no dependencies to fetch, runs, renders, links the man page under share/man/man1', () => {
  // npm test has just built dist/ (the prepack script would build again)
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir])) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  for (const f of ['bin/vip-mgmt', 'bin/load.cjs', 'bin/package.json', 'dist/bundle/vip-mgmt.cjs', 'dist/bundle/vip-mgmt.cjs.cache', 'dist/vip-mgmt.mjs', 'templates/frr.conf.mustache', 'man/vip-mgmt.1', 'completion/vip-mgmt.bash', 'packaging/systemd/vip-mgmt-watchdog.timer']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources and tests stay out');
  const prefix = join(dir, 'prefix');
  sh('npm', ['install', '--global', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', prefix, join(dir, packed[0]!.filename)], dir);
  const bin = join(prefix, 'bin', 'vip-mgmt');
  assert.match(sh(bin, ['--version'], dir), /^\d+\.\d+\.\d+\n$/);
  assert.match(sh(bin, ['-c', cfg, 'config', 'check', '--no-resolve'], dir), /ok|valid/i);
  assert.match(sh(bin, ['-c', cfg, 'render', '--dc', 'par1'], dir), /^route-map VIP-RANK-0 permit 10$/m);
  // package.json's man field: npm links it where man looks under the prefix ($(npm prefix -g)/share/man)
  const man = join(prefix, 'share', 'man', 'man1', 'vip-mgmt.1');
  assert.ok(existsSync(man), `${man} missing`);
  assert.equal(realpathSync(man), join(realpathSync(prefix), 'lib', 'node_modules', 'vip-mgmt', 'man', 'vip-mgmt.1'));
  assert.match(readFileSync(man, 'utf8'), /^\.TH VIP-MGMT 1 /);
  // the cron entry names the command as installed, not the file behind npm's symlink
  assert.match(sh(bin, ['-c', cfg, 'cron'], dir), new RegExp(`^\\* \\* \\* \\* \\* root ${bin.replace(/[.]/g, '\\.')} watchdog -q -c `, 'm'));
});

test('dist/vip-mgmt.mjs alone: only node is needed; cron and render use the templates inside it', () => {
  const lone = join(dir, 'lone');
  mkdirSync(lone);
  const file = join(lone, 'vip-mgmt.mjs');
  copyFileSync(join(ROOT, 'dist', 'vip-mgmt.mjs'), file);
  const cli = (args: string[]) => sh(process.execPath, [file, ...args], lone);
  assert.match(cli(['--version']), /^\d+\.\d+\.\d+\n$/);
  assert.match(cli(['-c', cfg, 'config', 'check', '--no-resolve']), /ok|valid/i);
  // nothing beside it, and no templates/ anywhere above it (dir is a fresh temp directory)
  assert.deepEqual(readdirSync(lone), ['vip-mgmt.mjs']);
  const cron = cli(['-c', cfg, 'cron', '--schedule', '*/2 * * * *']);
  assert.match(cron, /^# \/etc\/cron\.d\/vip-mgmt: run the vip-mgmt watchdog/);
  assert.ok(cron.trimEnd().endsWith(`\n*/2 * * * * root ${file} watchdog -q -c ${cfg}`), cron);
  const snippet = cli(['-c', cfg, 'render']);
  assert.match(snippet, /^! vip-mgmt: FRR configuration for datacenter par1 \(router bgp 64512\)/);
  assert.match(snippet, /^route-map VIP-RANK-0 permit 10$/m);
  assert.match(snippet, /^ip prefix-list VIP-PREFIXES-V4 seq 5 permit 192\.0\.2\.0\/24 ge 32$/m);
  // --templates DIR still wins over the embedded template; a DIR without it is named in the error
  const own = join(dir, 'own-templates');
  mkdirSync(own);
  writeFileSync(join(own, 'frr.conf.mustache'), 'router bgp {{asn}} ! mine\n');
  assert.equal(cli(['-c', cfg, 'render', '--templates', own]), 'router bgp 64512 ! mine\n');
  const missing = runAll(process.execPath, [file, '-c', cfg, 'render', '--templates', lone], lone);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, new RegExp(`cannot read the template ${lone}/frr\\.conf\\.mustache: ENOENT`));
  // not executable (copied without its mode, started as node FILE): cron gets node's path in front
  sh('chmod', ['644', file]);
  assert.ok(cli(['-c', cfg, 'cron']).trimEnd().endsWith(`root ${process.execPath} ${file} watchdog -q -c ${cfg}`));
});

test('an unknown command is named, with the commands and a suggestion; exit 2', () => {
  const bin = join(ROOT, 'dist', 'vip-mgmt.mjs');
  const unknown = runAll(process.execPath, [bin, 'frobnicate'], dir);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.equal(unknown.stdout, '');
  assert.match(unknown.stderr, /^error: unknown command "frobnicate"\ncommands: add, delete, status, config, render, watchdog, doctor, cron\n\(run vip-mgmt --help for usage\)\n$/);
  const typo = runAll(process.execPath, [bin, 'watchdgo'], dir);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /^error: unknown command "watchdgo"\n\(Did you mean watchdog\?\)\ncommands: /);
  const sub = runAll(process.execPath, [bin, 'config', 'chek'], dir);
  assert.equal(sub.code, 2);
  assert.match(sub.stderr, /^error: unknown command "config chek"\n\(Did you mean check\?\)\nconfig commands: check\n/);
  const json = runAll(process.execPath, [bin, '--json', 'frobnicate'], dir);
  assert.equal(json.code, 2);
  assert.deepEqual(JSON.parse(json.stdout).error.code, 'VIP_E_USAGE');
  // a word after -d's other options is not taken for a name, nor for a command
  const late = runAll(process.execPath, [bin, '-d', 'a.example', '--reason', 'r', 'b.example'], dir);
  assert.equal(late.code, 2);
  assert.match(late.stderr, /"b\.example" comes after another option: give every NAME right after -d/);
  // a subcommand still refuses extra arguments
  assert.equal(runAll(process.execPath, [bin, 'doctor', 'extra'], dir).code, 2);
});

test('man page and bash completion cover every command', () => {
  const top = sh(process.execPath, ['bin/vip-mgmt', '--help']);
  const commands = [...top.split('\nCommands:\n')[1]!.split('\n\n')[0]!.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 8, top);
  const man = sh('cat', ['man/vip-mgmt.1']);
  for (const c of commands) assert.match(man, new RegExp(`^\\.SS ${c}$`, 'm'), `man page lacks ${c}`);
  const complete = (words: string[]) =>
    sh('bash', ['-c', `source completion/vip-mgmt.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _vip_mgmt; echo "\${COMPREPLY[*]}"`]).trim();
  assert.equal(complete(['vip-mgmt', 'wat']), 'watchdog');
  assert.equal(complete(['vip-mgmt', '-c', 'x.yaml', 'watchdog', '--ev']), '--every');
  assert.deepEqual(complete(['vip-mgmt', 'render', '--']).split(' ').sort(), ['--check', '--dc', '--help', '--templates']);
});
