// The log adapter: text from outside is escaped on stderr and in syslog; -q/-v move stderr only; one
// `logger` child per run fed "<PRI>message" lines (a stand-in logger records what it is given).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLog, escapeLogText } from '../../src/adapters/log.ts';
import { logLevel } from '../../src/cli/deps.ts';

test('escapeLogText: control and format characters, ANSI escapes and separators become visible escapes', () => {
  const table: [string, string][] = [
    ['Adding route to 192.0.2.1/32', 'Adding route to 192.0.2.1/32'],
    ['a\nDeleting route to 192.0.2.1/32', 'a\\x0aDeleting route to 192.0.2.1/32'],
    ['cr\rlf\r\n', 'cr\\x0dlf\\x0d\\x0a'],
    ['\x1b[31mred\x1b[0m', '\\x1b[31mred\\x1b[0m'],
    ['nul\0 bel\x07 del\x7f tab\t', 'nul\\x00 bel\\x07 del\\x7f tab\\x09'],
    ['c1 csi\u009b2J nel\u0085', 'c1 csi\\x9b2J nel\\x85'],
    ['ls\u2028ps\u2029', 'ls\\u{2028}ps\\u{2029}'],
    ['rlo\u202eevil bom\ufeff', 'rlo\\u{202e}evil bom\\u{feff}'],
    ['ünïcode 𝟘 stays', 'ünïcode 𝟘 stays'],
    // what prefix.ts's printable() already escaped is not escaped again
    ['back\\slash \\x1b', 'back\\slash \\x1b'],
  ];
  for (const [raw, want] of table) assert.equal(escapeLogText(raw), want, JSON.stringify(raw));
});

test('logLevel: -q and -v set the stderr level; -q never makes a quieter configured level louder', () => {
  const g = { config: 'x', json: false, dryRun: false, quiet: false, verbose: false, color: false };
  assert.equal(logLevel(g, 'info'), 'info');
  assert.equal(logLevel({ ...g, quiet: true }, 'info'), 'warn');
  assert.equal(logLevel({ ...g, quiet: true }, 'debug'), 'warn');
  assert.equal(logLevel({ ...g, quiet: true }, 'error'), 'error');
  assert.equal(logLevel({ ...g, verbose: true }, 'info'), 'debug');
});

/** A logger stand-in: records its argv once per start, then every stdin line. */
async function fakeLogger(): Promise<{ bin: string; out: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'vip-log-'));
  const out = join(dir, 'got');
  const bin = join(dir, 'logger');
  await writeFile(bin, `#!/bin/sh\necho "START $*" >> '${out}'\ncat >> '${out}'\n`);
  await chmod(bin, 0o755);
  return { bin, out, dir };
}

test('syslog: one logger per run, "<PRI>message" lines with daemon priorities, escaped, and -q does not reach it', async () => {
  const f = await fakeLogger();
  try {
    const stderr: string[] = [];
    // what `-q` gives with log.level info: stderr at warn, syslog at info
    const log = createLog({ level: 'info', stderrLevel: 'warn', json: false, syslog: true, tag: 'vip-test', color: false, write: (l) => void stderr.push(l), logger: f.bin });
    log.debug({}, 'debug is below log.level');
    log.info({ vip: '192.0.2.1' }, '0 realservers available behind 192.0.2.1 > delete route');
    log.info({}, 'name evil\n<0>Deleting route to 192.0.2.9/32 via \x1b[31mx');
    log.warn({}, 'a warning');
    log.error({}, 'an error');
    await log.flush();
    const got = (await readFile(f.out, 'utf8')).split('\n').filter(Boolean);
    assert.deepEqual(got, [
      'START -t vip-test --prio-prefix -p daemon.info --size 16384',
      '<30>0 realservers available behind 192.0.2.1 > delete route',
      '<30>name evil\\x0a<0>Deleting route to 192.0.2.9/32 via \\x1b[31mx',
      '<28>a warning',
      '<27>an error',
    ]);
    assert.deepEqual(stderr, ['warning: a warning\n', 'error: an error\n']);

    // a line after flush starts a new child, which the next flush closes again
    log.info({}, 'after flush');
    await log.flush();
    assert.match(await readFile(f.out, 'utf8'), /START [^\n]*\n<30>after flush\n$/);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('stderr: plain text is escaped too; -v shows debug on stderr without sending debug to syslog', async () => {
  const f = await fakeLogger();
  try {
    const stderr: string[] = [];
    const log = createLog({ level: 'info', stderrLevel: 'debug', json: false, syslog: true, tag: 't', color: false, write: (l) => void stderr.push(l), logger: f.bin });
    log.debug({}, 'debug line');
    log.info({}, 'a\r\nb\u2028c');
    await log.flush();
    assert.deepEqual(stderr, ['debug line\n', 'a\\x0d\\x0ab\\u{2028}c\n']);
    assert.deepEqual((await readFile(f.out, 'utf8')).split('\n').filter(Boolean).slice(1), ['<30>a\\x0d\\x0ab\\u{2028}c']);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('JSON on stderr keeps the raw text (JSON escapes it) and the fields', async () => {
  const stderr: string[] = [];
  const log = createLog({ level: 'info', json: true, syslog: false, tag: 't', color: false, write: (l) => void stderr.push(l) });
  log.info({ vip: '192.0.2.1', name: 'a\nb' }, 'x\ny');
  await log.flush();
  assert.equal(stderr.length, 1);
  assert.doesNotMatch(stderr[0]!.slice(0, -1), /\n/);
  const o = JSON.parse(stderr[0]!) as Record<string, unknown>;
  assert.equal(o.msg, 'x\ny');
  assert.equal(o.name, 'a\nb');
  assert.equal(o.vip, '192.0.2.1');
});

test('no logger program: one warning on stderr, the run goes on, flush returns', async () => {
  const stderr: string[] = [];
  const log = createLog({ level: 'info', json: false, syslog: true, tag: 't', color: false, write: (l) => void stderr.push(l), logger: '/nonexistent/logger' });
  log.info({}, 'one');
  log.info({}, 'two');
  await log.flush();
  log.info({}, 'three');
  await log.flush();
  const warnings = stderr.filter((l) => l.startsWith('warning: syslog'));
  assert.equal(warnings.length, 1, stderr.join(''));
  assert.match(warnings[0]!, /cannot run \/nonexistent\/logger \(ENOENT\)/);
  assert.deepEqual(stderr.filter((l) => !l.startsWith('warning')), ['one\n', 'two\n', 'three\n']);
});

test('a long message is cut before logger would split it into a second line', async () => {
  const f = await fakeLogger();
  try {
    const log = createLog({ level: 'info', json: false, syslog: true, tag: 't', color: false, write: () => {}, logger: f.bin });
    log.info({}, 'x'.repeat(20_000));
    await log.flush();
    const lines = (await readFile(f.out, 'utf8')).split('\n').filter(Boolean);
    assert.equal(lines.length, 2);
    assert.ok(lines[1]!.length < 4100 && lines[1]!.endsWith('...(cut)'));
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});
