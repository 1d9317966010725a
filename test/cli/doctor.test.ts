// doctor's file-system checks on a temp directory: where the watchdog's schedule is found (cron.d, crontab, systemd units and their enablement) and state_dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scheduleChecks, stateChecks } from '../../src/cli/doctor.ts';
import { createStateStore } from '../../src/adapters/state.ts';

const ENTRY = '* * * * * root /usr/bin/vip-mgmt watchdog -q -c /etc/vip-mgmt/config.yaml\n';

async function tree(): Promise<{ dir: string; paths: { cronDirs: string[]; crontabs: string[]; unitDirs: string[] } }> {
  const dir = await mkdtemp(join(tmpdir(), 'vip-doctor-cli-'));
  for (const d of ['cron.d', 'etc-systemd', 'lib-systemd']) await mkdir(join(dir, d));
  return { dir, paths: { cronDirs: [join(dir, 'cron.d')], crontabs: [join(dir, 'crontab')], unitDirs: [join(dir, 'etc-systemd'), join(dir, 'lib-systemd')] } };
}

test('schedule: nothing, a skipped cron.d name, a cron.d entry, a crontab line', async () => {
  const { dir, paths } = await tree();
  try {
    assert.equal((await scheduleChecks(paths)).verdict, 'warn');
    await writeFile(join(dir, 'cron.d', 'other'), '* * * * * root /usr/bin/true\n');
    await writeFile(join(dir, 'cron.d', 'vip-mgmt.dpkg-old'), ENTRY);
    const skipped = await scheduleChecks(paths);
    assert.equal(skipped.verdict, 'warn');
    assert.match(skipped.detail, /vip-mgmt\.dpkg-old runs the watchdog, but cron skips/);
    await writeFile(join(dir, 'cron.d', 'vip-mgmt'), ENTRY);
    const c = await scheduleChecks(paths);
    assert.deepEqual([c.verdict, c.detail], ['ok', `cron ${join(dir, 'cron.d', 'vip-mgmt')}`]);
    await rm(join(dir, 'cron.d'), { recursive: true });
    await writeFile(join(dir, 'crontab'), `# m h dom mon dow user command\n${ENTRY}`);
    assert.equal((await scheduleChecks(paths)).verdict, 'ok');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('schedule: a timer unit counts once enabled; a daemon beside a cron entry warns', async () => {
  const { dir, paths } = await tree();
  try {
    const timer = join(dir, 'lib-systemd', 'vip-mgmt-watchdog.timer');
    await writeFile(timer, '[Timer]\nOnCalendar=*-*-* *:*:00\n');
    const off = await scheduleChecks(paths);
    assert.deepEqual([off.verdict, off.fix], ['warn', 'systemctl enable --now vip-mgmt-watchdog.timer']);
    await mkdir(join(dir, 'etc-systemd', 'timers.target.wants'));
    await symlink(timer, join(dir, 'etc-systemd', 'timers.target.wants', 'vip-mgmt-watchdog.timer'));
    const on = await scheduleChecks(paths);
    assert.deepEqual([on.verdict, on.detail], ['ok', `timer ${timer}`]);
    const daemon = join(dir, 'etc-systemd', 'vip-mgmt-watchdogd.service');
    await writeFile(daemon, '[Service]\n');
    await mkdir(join(dir, 'etc-systemd', 'multi-user.target.wants'));
    await symlink(daemon, join(dir, 'etc-systemd', 'multi-user.target.wants', 'vip-mgmt-watchdogd.service'));
    assert.match((await scheduleChecks(paths)).detail, /take turns on the same lock/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('state_dir: missing but creatable, writable with holds counted and no file left behind, corrupt state, not writable', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vip-doctor-state-'));
  try {
    const state = join(dir, 'a', 'b');
    const missing = await stateChecks({ state_dir: state }, createStateStore(state));
    assert.equal(missing.verdict, 'ok');
    assert.match(missing.detail, /does not exist yet/);
    await mkdir(state, { recursive: true });
    await writeFile(join(state, 'state.json'), JSON.stringify({ version: 1, holds: { '192.0.2.1/32': { reason: 'r', by: 'me', since: '2026-01-01T00:00:00Z', names: [] } }, watchdog: {}, dns: {} }));
    const good = await stateChecks({ state_dir: state }, createStateStore(state));
    assert.deepEqual([good.verdict, good.detail], ['ok', `${state}, 1 maintenance hold`]);
    assert.deepEqual((await readdir(state)).sort(), ['state.json']);
    await writeFile(join(state, 'state.json'), '{"version": 1, "holds": ');
    const corrupt = await stateChecks({ state_dir: state }, createStateStore(state));
    assert.equal(corrupt.verdict, 'fail');
    assert.match(corrupt.detail, /corrupt/);
    if (process.getuid?.() !== 0) {
      // root writes through mode bits, so this case only shows for other users
      await chmod(state, 0o555);
      assert.equal((await stateChecks({ state_dir: state }, createStateStore(state))).verdict, 'fail');
      await chmod(state, 0o755);
    }
    await writeFile(join(dir, 'file'), '');
    const notDir = await stateChecks({ state_dir: join(dir, 'file') }, createStateStore(join(dir, 'file')));
    assert.deepEqual([notDir.verdict, notDir.detail], ['fail', `${join(dir, 'file')}: not a directory`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
