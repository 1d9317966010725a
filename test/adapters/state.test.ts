// State store on a real filesystem: the state.json rule, atomic private writes that cannot be redirected, a safe state_dir, a full disk.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStateStore, writeAtomic, writeFileAtomically } from '../../src/adapters/state.ts';
import { emptyState, setHolds } from '../../src/core/state.ts';
import { checkState } from '../../src/core/statecheck.ts';
import { VipError } from '../../src/core/errors.ts';
import type { State } from '../../src/core/types.ts';
import { skipOutsideCI } from '../lab/prereq.ts';

const made: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'vip-state-'));
  made.push(d);
  return d;
};
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));
const mode = async (p: string) => (await stat(p)).mode & 0o777;
const hold = { reason: 'r', by: 'me', since: '2026-01-01T00:00:00.000Z', names: ['a.tld'] };
const code = (c: string) => (e: unknown) => e instanceof VipError && e.code === c;

/** A state using every field, as the watchdog writes it. */
function fullState(): State {
  return {
    version: 1,
    holds: { '192.0.2.1/32': hold },
    watchdog: {
      '192.0.2.2/32': { state: 'up', count: 0, live: 3, since: '2026-01-01T00:00:00.000Z', services: 2, gone: 0 },
      '2001:db8::2/128': { state: 'unknown', count: 1, live: null, since: '2026-01-01T00:00:00.000Z' },
    },
    dns: { 'www.example.tld': { addresses: ['192.0.2.2', '2001:db8::2'], chain: ['edge.example.tld'], expires: '2026-01-01T00:05:00.000Z', fetched: '2026-01-01T00:00:00.000Z' } },
    announced: { '192.0.2.2/32': { routeMap: 'VIP-RANK-1', source: 'service', since: '2026-01-01T00:00:00.000Z' } },
    ipvs: { services: 12, distrusted: 0 },
  };
}

test('a missing state file reads as empty; writes round-trip and leave no temp files; a new state_dir is 0700', async () => {
  const dir = await tmp();
  const store = createStateStore(join(dir, 'sub'));
  assert.deepEqual(await store.read(), emptyState());
  await assert.rejects(stat(join(dir, 'sub')), 'reading does not create the state_dir');
  await store.write(fullState());
  assert.deepEqual(await store.read(), fullState());
  assert.deepEqual(await readdir(join(dir, 'sub')), ['state.json']);
  assert.equal(await mode(join(dir, 'sub')), 0o700);
  assert.equal(await mode(join(dir, 'sub', 'state.json')), 0o600);
});

test('writing back the state just read leaves the file alone; a change is written', async () => {
  const dir = await tmp();
  const store = createStateStore(dir);
  await store.write(setHolds(emptyState(), ['192.0.2.1/32'], hold));
  const file = join(dir, 'state.json');
  const before = await stat(file);
  const again = createStateStore(dir);
  await again.write(await again.read());
  assert.equal((await stat(file)).ino, before.ino, 'an atomic rewrite would give a new inode');
  await again.write(setHolds(await again.read(), ['192.0.2.2/32'], { ...hold, names: ['b.tld'] }));
  assert.notEqual((await stat(file)).ino, before.ino);
  assert.ok('192.0.2.2/32' in JSON.parse(await readFile(file, 'utf8')).holds);
});

// ---- the state.json rule ------------------------------------------------------------------------

test('checkState accepts the empty state, a full one, and files written before announced/ipvs existed', () => {
  assert.equal(checkState(emptyState()), null);
  assert.equal(checkState(JSON.parse(JSON.stringify(fullState()))), null);
  const old = fullState();
  delete old.announced;
  delete old.ipvs;
  delete old.watchdog['192.0.2.2/32']!.services;
  assert.equal(checkState(old), null);
});

test('checkState names the path of each kind of bad content', () => {
  const bad = (mutate: (s: any) => void): string => {
    const s: any = JSON.parse(JSON.stringify(fullState()));
    mutate(s);
    const why = checkState(s);
    assert.ok(why, `accepted: ${JSON.stringify(s)}`);
    return why!;
  };
  assert.equal(checkState([]), 'not a JSON object');
  assert.equal(checkState(null), 'not a JSON object');
  assert.match(bad((s) => (s.version = 2)), /^version: unknown version 2/);
  assert.match(bad((s) => delete s.version), /^version:/);
  assert.match(bad((s) => (s.holds = [])), /^holds: /);
  assert.match(bad((s) => delete s.dns), /^dns: /);
  assert.match(bad((s) => (s.holds['192.0.2.1/32'].reason = 5)), /^holds\["192\.0\.2\.1\/32"\]\.reason: /);
  assert.match(bad((s) => delete s.holds['192.0.2.1/32'].names), /^holds\["192\.0\.2\.1\/32"\]\.names: /);
  assert.match(bad((s) => (s.watchdog['192.0.2.2/32'].state = 7)), /^watchdog\["192\.0\.2\.2\/32"\]\.state: /);
  assert.match(bad((s) => (s.watchdog['192.0.2.2/32'].state = 'sideways')), /\.state: /);
  assert.match(bad((s) => (s.watchdog['192.0.2.2/32'].count = -1)), /\.count: /);
  assert.match(bad((s) => (s.watchdog['192.0.2.2/32'].count = 1.5)), /\.count: /);
  assert.match(bad((s) => (s.watchdog['192.0.2.2/32'].live = '3')), /\.live: /);
  assert.match(bad((s) => (s.watchdog['192.0.2.2/32'].services = -2)), /\.services: /);
  assert.match(bad((s) => (s.watchdog['192.0.2.2/32'].gone = 'x')), /\.gone: /);
  assert.match(bad((s) => (s.dns['www.example.tld'].addresses = ['not-an-address'])), /^dns\["www\.example\.tld"\]\.addresses\[0\]: /);
  assert.match(bad((s) => (s.dns['www.example.tld'].addresses = ['2001:DB8::2'])), /addresses\[0\]: not a canonical/);
  assert.match(bad((s) => (s.announced['192.0.2.2/32'].source = 'rumour')), /^announced\["192\.0\.2\.2\/32"\]\.source: /);
  assert.match(bad((s) => (s.announced['192.0.2.2/32'].routeMap = 'VIP-RANK-1\nno router bgp')), /\.routeMap: not a route-map name/);
  assert.match(bad((s) => (s.ipvs = { services: -1, distrusted: 0 })), /^ipvs\.services: /);
  assert.match(bad((s) => (s.ipvs = [])), /^ipvs: /);
});

test('checkState refuses keys that are not canonical host prefixes, prototype keys and control characters in names', () => {
  const withKey = (section: string, key: string): string | null => {
    const s: any = JSON.parse(JSON.stringify(fullState()));
    const value = Object.values(s[section])[0];
    // as JSON.parse builds it: "__proto__" becomes an own key, not the prototype
    s[section] = JSON.parse(`{${JSON.stringify(key)}: ${JSON.stringify(value)}}`);
    return checkState(s);
  };
  for (const section of ['holds', 'watchdog', 'announced']) {
    for (const key of ['192.0.2.1', '192.0.2.01/32', '192.0.2.0/24', '2001:DB8::1/128', '2001:db8:0::1/128', ' 192.0.2.1/32', '::ffff:192.0.2.1/128', 'fe80::1%lo/128', '__proto__', 'constructor', 'toString', '']) {
      const why = withKey(section, key);
      assert.ok(why, `${section} key ${JSON.stringify(key)} accepted`);
      assert.ok(why!.startsWith(`${section}[${JSON.stringify(key)}]: key is not a host prefix`), why!);
    }
    assert.equal(withKey(section, '2001:db8::1/128'), null);
  }
  assert.match(withKey('holds', '192.0.2.1')!, /did you mean "192\.0\.2\.1\/32"/);
  assert.match(withKey('dns', 'evil\n.tld')!, /^dns\["evil\\n\.tld"\]: key is not a DNS name/);
  assert.match(withKey('dns', 'x\u001b[31m.tld')!, /key is not a DNS name/);
  assert.ok(withKey('dns', ''));
  assert.equal(withKey('dns', '__proto__'), null, 'a name, however odd, is only data in the dns map');
});

test('bad state content is VIP_E_STATE_CORRUPT (exit 1) naming the problem, and the file is left untouched', async () => {
  const dir = await tmp();
  const file = join(dir, 'state.json');
  const store = createStateStore(dir);
  const cases = [
    '{"version":1,"holds":{"192.0.2.1/32"',
    '{"version":2}',
    '{"version":1,"holds":[],"watchdog":{},"dns":{}}',
    '{"version":1,"holds":{},"watchdog":{"192.0.2.1/32":{"state":7,"count":0,"live":null,"since":"x"}},"dns":{}}',
    '{"version":1,"holds":{"__proto__":{"reason":"r","by":"b","since":"s","names":[]}},"watchdog":{},"dns":{}}',
  ];
  for (const text of cases) {
    await writeFile(file, text);
    const before = await stat(file);
    await assert.rejects(store.read(), (e: VipError) => {
      assert.equal(e.code, 'VIP_E_STATE_CORRUPT');
      assert.equal(e.exit, 1);
      assert.match(e.message, /not reset silently/);
      return true;
    });
    assert.equal(await readFile(file, 'utf8'), text, 'file untouched');
    assert.equal((await stat(file)).mtimeMs, before.mtimeMs);
  }
  await writeFile(file, cases[3]!);
  await assert.rejects(store.read(), (e: VipError) => e.message.includes('watchdog["192.0.2.1/32"].state'));
  await writeFile(file, cases[4]!);
  await assert.rejects(store.read(), (e: VipError) => e.message.includes('holds["__proto__"]: key is not a host prefix'));
});

test('a FIFO planted at state.json is an error, not a hang', async () => {
  const dir = await tmp();
  execFileSync('mkfifo', [join(dir, 'state.json')]);
  await assert.rejects(createStateStore(dir).read(), (e: VipError) => e.code === 'VIP_E_STATE_IO' && /not a regular file/.test(e.message));
});

// ---- writes that cannot be redirected -----------------------------------------------------------

test('a symlink planted at the temp name is neither followed nor removed: the write fails and nothing is written through it', async () => {
  const dir = await tmp();
  const victim = join(dir, 'victim');
  await writeFile(victim, 'precious\n');
  const target = join(dir, 'state.json');
  await writeFile(target, '{"old":true}\n');
  const planted = join(dir, '.state.json.0123456789abcdef.tmp');
  for (const to of [victim, join(dir, 'does-not-exist')]) {
    await rm(planted, { force: true });
    await symlink(to, planted);
    await assert.rejects(writeAtomic(target, 'new\n', { mode: 0o600, tempName: () => planted }), (e: VipError) => {
      assert.equal(e.code, 'VIP_E_STATE_IO');
      assert.match(e.message, /EEXIST/);
      assert.match(e.message, /state\.json is unchanged/);
      return true;
    });
    assert.ok((await lstat(planted)).isSymbolicLink(), 'the planted link is left as it was');
  }
  assert.equal(await readFile(victim, 'utf8'), 'precious\n', 'the link target is not written');
  await assert.rejects(stat(join(dir, 'does-not-exist')), 'a dangling link does not create its target');
  assert.equal(await readFile(target, 'utf8'), '{"old":true}\n');
});

test('the default temp names are random: a planted symlink at any predictable name is not used', async () => {
  const dir = await tmp();
  const victim = join(dir, 'victim');
  await writeFile(victim, 'precious\n');
  // write-file-atomic's names were <file>.<murmurhash of pid/thread/counter>; ours carry 64 random bits
  for (const n of ['.state.json.tmp', 'state.json.tmp', 'state.json.0', '.state.json.0000000000000000.tmp']) await symlink(victim, join(dir, n));
  const store = createStateStore(dir);
  await chmod(dir, 0o700);
  await store.write(fullState());
  assert.equal(await readFile(victim, 'utf8'), 'precious\n');
  assert.deepEqual(await store.read(), fullState());
});

test('a symlink at state.json itself is replaced by the new file, not followed', async () => {
  const dir = await tmp();
  const victim = join(dir, 'victim');
  await writeFile(victim, 'precious\n');
  await symlink(victim, join(dir, 'state.json'));
  await createStateStore(dir).write(fullState());
  const s = await lstat(join(dir, 'state.json'));
  assert.ok(s.isFile() && !s.isSymbolicLink());
  assert.equal(s.mode & 0o777, 0o600);
  assert.equal(await readFile(victim, 'utf8'), 'precious\n');
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')), fullState());
});

test('modes do not follow the umask: state 0600, state_dir and lock 0700/0600 under umask 000; metrics 0644 under 000 and 077', async () => {
  const dir = await tmp();
  const old = process.umask(0o000);
  try {
    const state = join(dir, 'state');
    const store = createStateStore(state);
    const lock = await store.lock();
    assert.equal(await mode(state), 0o700);
    assert.equal(await mode(join(state, 'run.lock')), 0o600);
    await store.write(fullState(), lock);
    assert.equal(await mode(join(state, 'state.json')), 0o600);
    await lock.release();
    await writeFileAtomically(join(dir, 'metrics.prom'), 'a 1\n');
    assert.equal(await mode(join(dir, 'metrics.prom')), 0o644);
    process.umask(0o077);
    await writeFileAtomically(join(dir, 'metrics.prom'), 'a 2\n');
    assert.equal(await mode(join(dir, 'metrics.prom')), 0o644);
    assert.equal(await readFile(join(dir, 'metrics.prom'), 'utf8'), 'a 2\n');
    assert.deepEqual((await readdir(dir)).sort(), ['metrics.prom', 'state']);
  } finally {
    process.umask(old);
  }
});

// ---- a safe state_dir ---------------------------------------------------------------------------

test('a state_dir owned by another user, or writable by group or others, is refused by lock, read and write with the fix', async (t) => {
  if (process.getuid?.() !== 0) return void skipOutsideCI(t, 'needs root to chown');
  const dir = await tmp();
  const state = join(dir, 'state');
  await mkdir(state, { mode: 0o700 });
  await writeFile(join(state, 'state.json'), JSON.stringify(emptyState()));
  const store = createStateStore(state);
  const refused = async (fix: RegExp) => {
    for (const op of [() => store.lock(), () => store.read(), () => store.write(fullState())]) {
      await assert.rejects(op(), (e: VipError) => {
        assert.equal(e.code, 'VIP_E_STATE_UNSAFE');
        assert.equal(e.exit, 1);
        assert.match(e.message, fix);
        return true;
      });
    }
    assert.deepEqual(await readdir(state), ['state.json'], 'no lock taken, nothing written');
  };
  await chown(state, 65534, 65534);
  await refused(new RegExp(`owned by uid 65534.*Fix: chown root: ${state} && chmod 700 ${state}$`));
  await chown(state, 0, 0);
  await chmod(state, 0o775);
  await refused(new RegExp(`writable by group \\(mode 0775\\).*Fix: chmod 700 ${state}$`));
  await chmod(state, 0o757);
  await refused(/writable by others \(mode 0757\)/);
  // a symlink to a safe directory is fine; to an unsafe one it is not
  const link = join(dir, 'link');
  await symlink(state, link);
  await assert.rejects(createStateStore(link).read(), code('VIP_E_STATE_UNSAFE'));
  await chmod(state, 0o755);
  assert.deepEqual(await createStateStore(link).read(), emptyState());
  const lock = await createStateStore(link).lock();
  await lock.release();
  const spaced = join(dir, 'with space');
  await mkdir(spaced, { mode: 0o777 });
  await chmod(spaced, 0o777);
  await assert.rejects(createStateStore(spaced).read(), (e: VipError) => e.message.endsWith(`Fix: chmod 700 '${spaced}'`));
});

// ---- a full disk ----------------------------------------------------------------------------------

test('a full disk: write() throws VIP_E_STATE_IO saying so, the previous state.json is intact, no temp file is left', async (t) => {
  if (process.getuid?.() !== 0) return void skipOutsideCI(t, 'needs root to mount a tmpfs');
  const mnt = await tmp();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt]);
  } catch (e) {
    await rm(mnt, { recursive: true, force: true });
    return void skipOutsideCI(t, `cannot mount a tmpfs: ${(e as Error).message}`);
  }
  try {
    const store = createStateStore(mnt);
    const lock = await store.lock();
    const small = setHolds(emptyState(), ['192.0.2.1/32'], hold);
    await store.write(small, lock);
    const before = await readFile(join(mnt, 'state.json'), 'utf8');
    // fill the filesystem to the last block
    try {
      await writeFile(join(mnt, 'filler'), Buffer.alloc(1 << 20));
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    const big = { ...small, dns: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`n${i}.example.tld`, fullState().dns['www.example.tld']!])) };
    await assert.rejects(store.write(big, lock), (e: VipError) => {
      assert.equal(e.code, 'VIP_E_STATE_IO');
      assert.equal(e.details.errno, 'ENOSPC');
      assert.match(e.message, new RegExp(`cannot write ${mnt}/state\\.json: the disk is full \\(ENOSPC\\).*state\\.json is unchanged`));
      return true;
    });
    assert.equal(await readFile(join(mnt, 'state.json'), 'utf8'), before);
    assert.deepEqual((await readdir(mnt)).sort(), ['filler', 'run.lock', 'state.json']);
    // the failed write did not leave the store believing it wrote: once there is room, it writes
    await rm(join(mnt, 'filler'));
    await store.write(big, lock);
    assert.deepEqual(await store.read(), big);
    await lock.release();
  } finally {
    execFileSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  }
});

// ---- the sum: a file this build wrote is not checked again -------------------------------------

test('a build writes state.json.sum (0600) beside the state; the same build reads the file back', async () => {
  const dir = await tmp();
  const store = createStateStore(dir, { buildId: 'build-a' });
  await store.write(fullState());
  assert.deepEqual((await readdir(dir)).sort(), ['state.json', 'state.json.sum']);
  assert.equal(await mode(join(dir, 'state.json.sum')), 0o600);
  assert.match(await readFile(join(dir, 'state.json.sum'), 'utf8'), /^build-a [0-9a-f]{64}\n$/);
  assert.deepEqual(await createStateStore(dir, { buildId: 'build-a' }).read(), fullState());
});

test('a hand edit breaks the sum: the file is checked in full and bad content is refused', async () => {
  const dir = await tmp();
  await createStateStore(dir, { buildId: 'build-a' }).write(fullState());
  const file = join(dir, 'state.json');
  const edited = JSON.parse(await readFile(file, 'utf8'));
  edited.watchdog['192.0.2.2/32'].state = 'sideways';
  await writeFile(file, JSON.stringify(edited, null, 2) + '\n');
  await assert.rejects(createStateStore(dir, { buildId: 'build-a' }).read(), code('VIP_E_STATE_CORRUPT'));
});

test('a sum made by another build, or planted as a symlink, is not taken', async () => {
  const dir = await tmp();
  const file = join(dir, 'state.json');
  const bad = { ...fullState(), watchdog: { '192.0.2.2/32': { state: 'sideways' } } };
  const text = JSON.stringify(bad, null, 2) + '\n';
  await writeFile(file, text, { mode: 0o600 });
  const { createHash } = await import('node:crypto');
  const sum = `build-a ${createHash('sha256').update(text).digest('hex')}\n`;
  // the right sum of this text, but by build-a: build-b checks
  await writeFile(join(dir, 'state.json.sum'), sum, { mode: 0o600 });
  await assert.rejects(createStateStore(dir, { buildId: 'build-b' }).read(), code('VIP_E_STATE_CORRUPT'));
  // unbundled (no build id): always checked
  await assert.rejects(createStateStore(dir, { buildId: null }).read(), code('VIP_E_STATE_CORRUPT'));
  // the control: build-a takes text with its own sum as written, unchecked (the path a quiet cycle takes)
  assert.equal((await createStateStore(dir, { buildId: 'build-a' }).read()).watchdog['192.0.2.2/32']!.state, 'sideways');
  // a symlink at the sum's path pointing at a file with the right text: not followed
  await rm(join(dir, 'state.json.sum'));
  const elsewhere = join(await tmp(), 'sum');
  await writeFile(elsewhere, sum);
  await symlink(elsewhere, join(dir, 'state.json.sum'));
  await assert.rejects(createStateStore(dir, { buildId: 'build-a' }).read(), code('VIP_E_STATE_CORRUPT'));
});
