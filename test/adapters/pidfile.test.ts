// The watchdog pid file on a real filesystem with real processes: claimed 0600 under the run lock, a live daemon refuses a
// second one, a dead / reused / non-watchdog pid is replaced, a symlink is never read through, release removes only our own file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { claimPidFile, findDaemon, PID_FILE, procView } from '../../src/adapters/pidfile.ts';
import { createStateStore } from '../../src/adapters/state.ts';
import { formatPidRecord, startTimeOf } from '../../src/core/pidfile.ts';
import { VipError } from '../../src/core/errors.ts';

const made: string[] = [];
const kids: ChildProcess[] = [];
after(async () => {
  for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
  await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
});
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'vip-pid-'));
  made.push(d);
  return join(d, 'state'); // created by the claim (0700), as the daemon does
};

/** A live `sleep 300`, or with `impostor` a bash whose command line reads like a vip-mgmt watchdog's
 *  (it waits in the read builtin on a pipe we never write: no child of its own to outlive it). */
async function live(impostor: boolean): Promise<ChildProcess> {
  const c = impostor
    ? spawn('bash', ['-c', 'read -t 300; :', '/usr/bin/vip-mgmt', 'watchdog'], { stdio: ['pipe', 'ignore', 'ignore'] })
    : spawn('sleep', ['300'], { stdio: 'ignore' });
  kids.push(c);
  // until exec has happened and /proc shows the final command line
  for (let i = 0; i < 100; i++) {
    const v = await procView(c.pid!);
    if (v.cmdline && v.cmdline[0] === (impostor ? 'bash' : 'sleep')) break;
    await sleep(10);
  }
  return c;
}
const startOf = async (pid: number) => startTimeOf(await readFile(`/proc/${pid}/stat`, 'utf8'))!;
const plant = (dir: string, pid: number, start: number) => writeFile(join(dir, PID_FILE), formatPidRecord({ pid, start, since: '2026-12-01T00:00:00.000Z' }));

test('claim writes our pid and /proc start time, mode 0600, in a new 0700 state_dir; findDaemon then sees us; release removes it', async () => {
  const dir = await tmp();
  const claim = await claimPidFile(dir, createStateStore(dir));
  assert.equal(claim.replaced, null);
  const file = join(dir, PID_FILE);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const rec = JSON.parse(await readFile(file, 'utf8'));
  assert.equal(rec.pid, process.pid);
  assert.equal(rec.start, await startOf(process.pid));
  assert.equal(await stat(join(dir, 'run.lock')).catch(() => null), null, 'the run lock is released after the claim');
  // the test runner is "node ... --test file": not a watchdog, so even our own live pid is not signalled
  const seen = await findDaemon(dir);
  assert.equal(seen.live, false);
  assert.match((seen as { why: string }).why, new RegExp(`pid ${process.pid} is not a vip-mgmt watchdog`));
  assert.equal(await claim.release(), null);
  assert.equal(await stat(file).catch(() => null), null);
  assert.equal(await claim.release(), null, 'a second release is a no-op');
});

test('a live vip-mgmt watchdog with the recorded start time holds the file: a second claim is refused with exit 75', async () => {
  const dir = await tmp();
  await claimPidFile(dir, createStateStore(dir)); // makes the dir
  const d = await live(true);
  await plant(dir, d.pid!, await startOf(d.pid!));
  const found = await findDaemon(dir);
  assert.equal(found.live, true, JSON.stringify(found));
  await assert.rejects(claimPidFile(dir, createStateStore(dir)), (e: unknown) => {
    assert.ok(e instanceof VipError);
    assert.equal(e.code, 'VIP_E_DAEMON_RUNNING');
    assert.equal(e.exit, 75);
    assert.match(e.message, new RegExp(`a watchdog daemon already runs on state_dir .* \\(pid ${d.pid}, since 2026-12-01T00:00:00.000Z`));
    assert.match(e.message, /watchdog --now/);
    return true;
  });
  assert.equal(JSON.parse(await readFile(join(dir, PID_FILE), 'utf8')).pid, d.pid, 'the daemon keeps its pid file');
  assert.equal(d.exitCode, null);
});

test('stale pid files are replaced, each with its reason: dead pid, reused pid (other start time), a live non-watchdog, garbage', async () => {
  const dir = await tmp();
  await claimPidFile(dir, createStateStore(dir));
  const dead = spawn('true');
  await new Promise((r) => dead.once('exit', r));
  const impostor = await live(true);
  const sleeper = await live(false);
  const cases: [string, () => Promise<void>, RegExp][] = [
    ['dead', () => plant(dir, dead.pid!, 1), new RegExp(`pid ${dead.pid} is not running`)],
    ['reused', async () => plant(dir, impostor.pid!, (await startOf(impostor.pid!)) + 1), /the pid was reused/],
    ['sleep', async () => plant(dir, sleeper.pid!, await startOf(sleeper.pid!)), /is not a vip-mgmt watchdog \(its command line: "sleep 300"\)/],
    ['garbage', () => writeFile(join(dir, PID_FILE), '12345\n'), /is not a pid file vip-mgmt wrote/],
  ];
  for (const [what, setUp, why] of cases) {
    await setUp();
    const claim = await claimPidFile(dir, createStateStore(dir));
    assert.match(claim.replaced ?? '', why, what);
    assert.equal(JSON.parse(await readFile(join(dir, PID_FILE), 'utf8')).pid, process.pid, what);
  }
  assert.equal(impostor.exitCode, null, 'nobody was signalled');
  assert.equal(sleeper.exitCode, null);
});

test('release leaves a pid file that no longer names us; a symlink at the path is refused, never read through', async () => {
  const dir = await tmp();
  const claim = await claimPidFile(dir, createStateStore(dir));
  await plant(dir, 99999999, 5);
  assert.match((await claim.release()) ?? '', /no longer names this daemon; left as it is/);
  assert.ok(await stat(join(dir, PID_FILE)));

  await rm(join(dir, PID_FILE));
  const target = join(dir, 'elsewhere');
  await writeFile(target, formatPidRecord({ pid: process.pid, start: await startOf(process.pid), since: 'x' }));
  await symlink(target, join(dir, PID_FILE));
  await assert.rejects(findDaemon(dir), (e: unknown) => e instanceof VipError && e.code === 'VIP_E_STATE_IO' && /it is a symlink/.test(e.message));
  assert.ok((await lstat(join(dir, PID_FILE))).isSymbolicLink());
});

test('findDaemon: no state_dir or no pid file is "no daemon", with the reason', async () => {
  const dir = await tmp();
  const none = await findDaemon(dir);
  assert.equal(none.live, false);
  assert.match((none as { why: string }).why, /^no pid file /);
  await claimPidFile(dir, createStateStore(dir)).then((c) => c.release());
  const empty = await findDaemon(dir);
  assert.match((empty as { why: string }).why, /^no pid file /);
});
