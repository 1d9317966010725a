// The built command's contract where no lab is needed: config check, usage errors, --json error shape, help.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
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

test('watchdog --now with --every or --schedule is a usage error (exit 2) before any config is read', async () => {
  for (const [flag, value] of [['--every', '60s'], ['--schedule', '* * * * * *']] as const) {
    const r = await runCli(['-c', join(dir, 'no-such-config.yaml'), 'watchdog', '--now', flag, value]);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, new RegExp(`--now asks the running daemon for one cycle \\(or runs one here\\); it does not go with ${flag}`));
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

// ---- issue 9 / 10: durations, bad addresses, config check messages ------------------------------

test('CLI durations: a unit is required, more than 0 (except --lock-wait 0) and at most 2^31-1 ms: exit 2 naming the option', async () => {
  const table: [string[], RegExp][] = [
    [['watchdog', '--every', '10'], /--every <duration>.*"10" has no unit: add one, e\.g\. "10s"/],
    [['watchdog', '--every', '0s'], /--every <duration>.*"0s" is zero/],
    [['watchdog', '--every', '597h'], /--every <duration>.*too long: at most 2147483647ms/],
    [['watchdog', '--every', `${'9'.repeat(400)}ms`], /too long/],
    [['-d', 'service.tld', '--lock-wait', '10'], /--lock-wait <duration>.*"10" has no unit/],
    [['delete', 'service.tld', '--lock-wait', '25d'], /--lock-wait <duration>.*invalid duration "25d"/],
    [['add', 'service.tld', '--lock-wait', '-1s'], /--lock-wait <duration>.*invalid duration/],
  ];
  for (const [args, want] of table) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
    assert.match(r.stderr, want, args.join(' '));
    const j = await runCli(['--json', ...args]);
    assert.equal(j.code, 2);
    assert.equal(jsonOf(j).error.code, 'VIP_E_USAGE');
  }
});

test('a NAME that is an address no VIP can have is refused with exit 2 before anything happens (no hold, no state)', async () => {
  const stateDir = join(dir, 'state-bad-address');
  await mkdir(stateDir);
  const cfg = join(dir, 'bad-address.yaml');
  await writeFile(cfg, GOOD.replace('state_dir: /tmp', `state_dir: ${stateDir}`));
  const table: [string[], RegExp][] = [
    [['-d', '2001:db8::21%lo'], /2001:db8::21%lo carries an IPv6 zone id \("%lo"\)/],
    [['delete', '::ffff:192.0.2.7', '--reason', 'test'], /IPv4-mapped IPv6 address: it is not the IPv4 address 192\.0\.2\.7/],
    [['-a', '224.0.0.5'], /multicast/],
    [['add', '127.0.0.1'], /loopback/],
    [['-d', 'fe80::1%eth0', '--lock-wait', '0'], /zone id/], // --lock-wait 0 (no wait) is a valid duration
  ];
  for (const [args, want] of table) {
    const r = await runCli(['-c', cfg, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
    assert.match(r.stderr, want, args.join(' '));
    const j = await runCli(['-c', cfg, '--json', ...args]);
    assert.equal(j.code, 2, describeRun(j));
    const out = jsonOf(j);
    const codes = [out.error?.code, ...(out.errors ?? []).map((e: { code: string }) => e.code)];
    assert.ok(codes.includes('VIP_E_BAD_ADDRESS'), JSON.stringify(out));
    assert.deepEqual(out.changes ?? [], [], 'nothing planned');
  }
  assert.deepEqual(await readdir(stateDir), [], 'no hold was written: the state directory stays empty');
});

test('config check without a config file gives the -c / $VIP_MGMT_CONFIG hint, like every command', async () => {
  const missing = join(dir, 'no-such-config.yaml');
  const r = await runCli(['-c', missing, 'config', 'check', '--no-resolve']);
  assert.equal(r.code, 3, describeRun(r));
  assert.match(r.stderr, /cannot read config .*no-such-config\.yaml: ENOENT \(use -c PATH or \$VIP_MGMT_CONFIG\)/);
  const env = await runCli(['config', 'check', '--no-resolve'], { env: { VIP_MGMT_CONFIG: missing } });
  assert.equal(env.code, 3);
  assert.match(env.stderr, /use -c PATH or \$VIP_MGMT_CONFIG/);
  const j = await runCli(['-c', missing, '--json', 'config', 'check']);
  assert.equal(j.code, 3);
  assert.equal(jsonOf(j).error.code, 'VIP_E_CONFIG');
});

test('a YAML syntax error names the file, line and column, in config check and in any other command', async () => {
  const cfg = join(dir, 'syntax.yaml');
  await writeFile(cfg, 'dc: par1\n  bad: [\n');
  const r = await runCli(['-c', cfg, 'config', 'check', '--no-resolve']);
  assert.equal(r.code, 3, describeRun(r));
  assert.ok(r.stdout.includes(`line 2: bad indentation of a mapping entry (YAML syntax error at ${cfg}:2:6)`), r.stdout);
  const s = await runCli(['-c', cfg, 'status']);
  assert.equal(s.code, 3);
  assert.ok(s.stderr.includes(`${cfg}:2:6`), s.stderr);
});

test('config check refuses bare-number and zero durations, and names the fix', async () => {
  const cfg = join(dir, 'durations.yaml');
  await writeFile(cfg, `${GOOD}bgp: { timeout: 0s }\ndns: { timeout: 10 }\n`);
  const r = await runCli(['-c', cfg, 'config', 'check', '--no-resolve']);
  assert.equal(r.code, 3, describeRun(r));
  assert.match(r.stdout, /bgp\.timeout: "0s" is zero/);
  assert.match(r.stdout, /dns\.timeout: 10 has no unit: add one, e\.g\. "10s"/);
});

test('config check: a DC named after an Object.prototype key is unknown unless listed', async () => {
  const cfg = join(dir, 'proto.yaml');
  await writeFile(cfg, GOOD.replace('dc: par1', 'dc: constructor').replace('prefer: [par1, lon1]', 'prefer: [par1, toString]'));
  const r = await runCli(['-c', cfg, 'config', 'check', '--no-resolve']);
  assert.equal(r.code, 3, describeRun(r));
  assert.match(r.stdout, /dc: this host's dc "constructor" is not listed under datacenters/);
  assert.match(r.stdout, /services\[0\]\.prefer\[1\]: unknown dc "toString"/);
});
