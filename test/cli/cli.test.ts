// The built command's contract where no lab is needed: config check, usage errors, --json error shape, help.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRun, jsonOf, runCli } from '../lab/cli.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vip-cli-unit-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BAD = `
dc: par2
bgp: { speaker: frr, vtyssh: vtysh }
vip_prefixes: [192.0.2.0/33, 2001:db8::/48]
datacenters:
  par1: { asn: 64512 }
  lon1: { asn: 64513 }
services:
  - name: service.tld
    prefer: [par1, pra1]
log: { syslog: false }
state_dir: /tmp
`;

const GOOD = `
dc: par1
vip_prefixes: [192.0.2.0/24, 2001:db8::/48]
datacenters:
  par1: { asn: 64512 }
  lon1: { asn: 64513 }
services:
  - name: service.tld
    prefer: [par1, lon1]
log: { syslog: false }
state_dir: /tmp
`;

test('config check lists every problem with its path and exits 3', async () => {
  const cfg = join(dir, 'bad.yaml');
  await writeFile(cfg, BAD);
  const r = await runCli(['-c', cfg, 'config', 'check', '--no-resolve']);
  assert.equal(r.code, 3, describeRun(r));
  assert.match(r.stdout, /bgp\.vtyssh/);
  assert.match(r.stdout, /vip_prefixes\[0\]/);
  assert.match(r.stdout, /services\[0\]\.prefer\[1\].*pra1/);
  assert.match(r.stdout, /dc.*par2/);
  const j = await runCli(['-c', cfg, '--json', 'config', 'check', '--no-resolve']);
  assert.equal(j.code, 3);
  const out = jsonOf(j);
  assert.equal(out.valid, false);
  assert.ok(out.problems.length >= 4, JSON.stringify(out.problems));
});

test('config check of a good file exits 0', async () => {
  const cfg = join(dir, 'good.yaml');
  await writeFile(cfg, GOOD);
  const r = await runCli(['-c', cfg, 'config', 'check', '--no-resolve']);
  assert.equal(r.code, 0, describeRun(r));
  assert.match(r.stdout, /OK/);
});

test('any command with an invalid config exits 3 before touching anything', async () => {
  const cfg = join(dir, 'bad.yaml');
  await writeFile(cfg, BAD);
  const r = await runCli(['-c', cfg, '-d', 'service.tld']);
  assert.equal(r.code, 3, describeRun(r));
  const j = await runCli(['-c', cfg, '--json', 'status']);
  assert.equal(j.code, 3);
  assert.equal(jsonOf(j).error.code, 'VIP_E_CONFIG');
});

test('usage errors exit 2', async () => {
  for (const args of [['--no-such-flag'], ['add'], ['watchdog', '--every', 'soon'], ['-a', 'x', '-d', 'y']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
  }
});

test('--help lists every command and the exit codes; --version prints the version', async () => {
  const h = await runCli(['--help']);
  assert.equal(h.code, 0);
  for (const c of ['add', 'delete', 'status', 'watchdog', 'render', 'config', 'cron', '75 another run holds the lock']) assert.ok(h.stdout.includes(c), c);
  const v = await runCli(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
});

test('cron prints a crontab line with the real paths (no HTML escaping) and refuses a bad schedule', async () => {
  const cfg = join(dir, 'cron.yaml');
  await writeFile(cfg, GOOD);
  const r = await runCli(['-c', cfg, 'cron', '--schedule', '*/2 * * * *']);
  assert.equal(r.code, 0, describeRun(r));
  const line = r.stdout.split('\n').find((l) => l.startsWith('*/2 '));
  assert.ok(line, r.stdout);
  assert.match(line, /^\*\/2 \* \* \* \* root \/\S+\/vip-mgmt watchdog -q -c \/\S+\/cron\.yaml$/);
  assert.doesNotMatch(r.stdout, /&#x2F;|&amp;/);
  const bad = await runCli(['-c', cfg, 'cron', '--schedule', '61 * * * *']);
  assert.equal(bad.code, 2, describeRun(bad));
});
