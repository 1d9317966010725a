// `watchdog --now` against a stand-in daemon (a bash whose command line reads like a vip-mgmt watchdog's and that traps
// SIGUSR1 into a file): the signal path needs only the config's state_dir, so a config the full check would refuse still
// reaches the daemon (it acts on the config it loaded); a config that cannot be read at all is exit 3. No lab needed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeRun, jsonOf, runCli } from '../lab/cli.ts';
import { formatPidRecord, startTimeOf } from '../../src/core/pidfile.ts';

let dir: string;
let stand: ChildProcess;
let got: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vip-now-'));
  await mkdir(join(dir, 'state'), { mode: 0o700 });
  got = join(dir, 'got');
  // the trap runs between two short reads (a builtin, on a pipe we never write: no child process
  // to outlive it): a SIGUSR1 shows up in GOT within ~0.1 s
  stand = spawn('bash', ['-c', `trap 'echo USR1 >> "${got}"' USR1; while :; do read -t 0.05; done`, '/usr/bin/vip-mgmt', 'watchdog'], { stdio: ['pipe', 'ignore', 'ignore'] });
  await sleep(200);
  const start = startTimeOf(await readFile(`/proc/${stand.pid}/stat`, 'utf8'))!;
  await writeFile(join(dir, 'state', 'watchdog.pid'), formatPidRecord({ pid: stand.pid!, start, since: '2026-12-01T00:00:00.000Z' }), { mode: 0o600 });
});
after(async () => {
  stand?.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

const signals = async () => {
  await sleep(300);
  return (await readFile(got, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
};

test('--now signals the daemon named by the pid file, says so on stdout (--json too), exit 0', async () => {
  const cfg = join(dir, 'good.yaml');
  await writeFile(cfg, `dc: par1\nvip_prefixes: [192.0.2.0/24]\ndatacenters: { par1: { asn: 64512 } }\nstate_dir: ${join(dir, 'state')}\nlog: { syslog: false }\n`);
  const r = await runCli(['-c', cfg, 'watchdog', '--now']);
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(r.stdout, `watchdog daemon pid ${stand.pid} (running since 2026-12-01T00:00:00.000Z) signalled: it runs a cycle now\n`);
  assert.equal(r.stderr, '');
  assert.equal(await signals(), 1);
  const j = await runCli(['-c', cfg, '--json', 'watchdog', '--now']);
  assert.equal(j.code, 0, describeRun(j));
  assert.deepEqual(jsonOf(j), { signalled: { pid: stand.pid, since: '2026-12-01T00:00:00.000Z', pidFile: join(dir, 'state', 'watchdog.pid') } });
  assert.equal(await signals(), 2);
});

test('--now reads only state_dir while a daemon runs: a config the full check refuses still signals it; one that does not parse is exit 3', async () => {
  const sent = await signals();
  const refused = join(dir, 'refused.yaml');
  await writeFile(refused, `dc: nowhere\nno_such_key: 1\nstate_dir: ${join(dir, 'state')}\n`);
  const r = await runCli(['-c', refused, 'watchdog', '--now']);
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(await signals(), sent + 1);
  // the same file refused where the cycle would run here (the daemon is not asked for a config check)
  const check = await runCli(['-c', refused, 'config', 'check', '--no-resolve']);
  assert.equal(check.code, 3, describeRun(check));

  const broken = join(dir, 'broken.yaml');
  await writeFile(broken, `state_dir: ${join(dir, 'state')}\nstate_dir: twice\n`);
  const b = await runCli(['-c', broken, 'watchdog', '--now']);
  assert.equal(b.code, 3, describeRun(b));
  assert.match(b.stderr, /duplicated mapping key/);
  assert.equal(await signals(), sent + 1, 'not signalled');
});
