// The pid file's record and the rule that says whether its pid is still the watchdog daemon, as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDaemon, formatPidRecord, isWatchdogCmdline, parsePidRecord, startTimeOf, type ProcView } from '../../src/core/pidfile.ts';

// /proc/self/stat of `cat` on the lab host (kernel 6.18), and one whose command name holds ") (" and spaces
const STAT = '21097 (cat) R 21094 21094 10226 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 207467 3133440 416 18446744073709551615 94250211741696 0';
const ODD = '4242 (a) (b c) S 1 4242 4242 0 -1 4194560 10 0 0 0 0 0 0 0 20 0 1 0 99123 1000 10 18446744073709551615 1 0';

test('startTimeOf reads field 22, counting from the last ")"; garbage is null', () => {
  assert.equal(startTimeOf(STAT), 207467);
  assert.equal(startTimeOf(ODD), 99123);
  for (const bad of ['', 'no parens at all', '1 (x) R 1 2', '1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0']) assert.equal(startTimeOf(bad), null, bad);
});

test('a record round-trips; anything else is not a record (pid 0/-1/1 would reach groups or init)', () => {
  const r = { pid: 1234, start: 207467, since: '2026-12-01T00:00:00.000Z' };
  assert.deepEqual(parsePidRecord(formatPidRecord(r)), r);
  assert.deepEqual(parsePidRecord('{"pid":1234,"start":5}'), { pid: 1234, start: 5, since: '?' });
  for (const bad of ['', '1234', '1234\n', 'null', '[]', '{"pid":0,"start":1}', '{"pid":-1,"start":1}', '{"pid":1,"start":1}', '{"pid":"12","start":1}', '{"pid":12}', '{"pid":12,"start":-1}', '{"pid":1.5,"start":1}']) {
    assert.equal(parsePidRecord(bad), null, bad);
  }
});

test('isWatchdogCmdline: a script named vip-mgmt*, then the watchdog command', () => {
  const table: [string[], boolean][] = [
    [['node', '/usr/bin/vip-mgmt', 'watchdog', '--every', '2s', '-q'], true],
    [['/usr/bin/node', '/opt/x/dist/vip-mgmt.mjs', '-c', '/etc/vip-mgmt/config.yaml', 'watchdog', '--schedule', '* * * * * *'], true],
    [['node', '/work/bin/vip-mgmt', '-c', 'c.yaml', 'watchdog', '--every', '60s'], true],
    [['sleep', '300'], false],
    [['node', '/usr/bin/vip-mgmt', 'status'], false],
    [['watchdog', '/usr/bin/vip-mgmt'], false], // "watchdog" before the script is not its command
    [['node', '/srv/vip-mgmt-data/other.js', 'run'], false], // a directory named vip-mgmt is not the script
    [[], false],
  ];
  for (const [argv, want] of table) assert.equal(isWatchdogCmdline(argv), want, argv.join(' '));
});

test('checkDaemon: live only when alive, same start time and a watchdog command line; each no says why', () => {
  const rec = { pid: 4321, start: 1000, since: 't' };
  const wd = ['node', '/usr/bin/vip-mgmt', 'watchdog', '--every', '60s'];
  const table: [string, ProcView, RegExp | null][] = [
    ['the daemon itself', { alive: true, start: 1000, cmdline: wd }, null],
    ['dead pid', { alive: false, start: null, cmdline: null }, /pid 4321 is not running/],
    ['reused pid, even by another watchdog', { alive: true, start: 2000, cmdline: wd }, /another process now \(the pid was reused/],
    ['same start, not a watchdog (sleep)', { alive: true, start: 1000, cmdline: ['sleep', '300'] }, /not a vip-mgmt watchdog \(its command line: "sleep 300"\)/],
    ['alive but /proc unreadable', { alive: true, start: null, cmdline: null }, /cannot be checked in \/proc/],
    ['alive, cmdline unreadable', { alive: true, start: 1000, cmdline: null }, /cannot be checked/],
  ];
  for (const [what, proc, why] of table) {
    const c = checkDaemon(rec, proc);
    if (why === null) assert.deepEqual(c, { live: true }, what);
    else {
      assert.equal(c.live, false, what);
      assert.match((c as { why: string }).why, why, what);
    }
  }
});
