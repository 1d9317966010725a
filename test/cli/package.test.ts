// Deployment: `npm pack` gives a package that installs offline (its dependencies are bundled) and
// runs; dist/vip-mgmt.mjs runs alone with only node; the man page and bash completion are generated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lab/cli.ts';

let dir: string;
let cfg: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vip-pkg-'));
  cfg = join(dir, 'config.yaml');
  await writeFile(cfg, 'dc: par1\nvip_prefixes: [192.0.2.0/24]\ndatacenters: { par1: { asn: 64512 } }\nlog: { syslog: false }\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sh = (file: string, args: string[], cwd = ROOT) => execFileSync(file, args, { cwd, env: { ...process.env, NO_COLOR: '1' } }).toString();

test('npm pack: installs offline with no dependencies to fetch, runs, renders from its own templates', () => {
  // npm test has just built dist/ (the prepack script would build again)
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir])) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  for (const f of ['bin/vip-mgmt', 'dist/bundle/vip-mgmt.mjs', 'dist/vip-mgmt.mjs', 'templates/frr.conf.mustache', 'man/vip-mgmt.1', 'completion/vip-mgmt.bash', 'packaging/systemd/vip-mgmt-watchdog.timer']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources and tests stay out');
  const prefix = join(dir, 'prefix');
  sh('npm', ['install', '--global', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', prefix, join(dir, packed[0]!.filename)], dir);
  const bin = join(prefix, 'bin', 'vip-mgmt');
  assert.match(sh(bin, ['--version'], dir), /^\d+\.\d+\.\d+\n$/);
  assert.match(sh(bin, ['-c', cfg, 'config', 'check', '--no-resolve'], dir), /ok|valid/i);
  assert.match(sh(bin, ['-c', cfg, 'render', '--dc', 'par1'], dir), /^route-map VIP-RANK-0 permit 10$/m);
});

test('dist/vip-mgmt.mjs alone: only node is needed', () => {
  const lone = join(dir, 'lone');
  mkdirSync(lone);
  copyFileSync(join(ROOT, 'dist', 'vip-mgmt.mjs'), join(lone, 'vip-mgmt.mjs'));
  assert.match(sh(process.execPath, [join(lone, 'vip-mgmt.mjs'), '--version'], lone), /^\d+\.\d+\.\d+\n$/);
  assert.match(sh(process.execPath, [join(lone, 'vip-mgmt.mjs'), '-c', cfg, 'config', 'check', '--no-resolve'], lone), /ok|valid/i);
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
