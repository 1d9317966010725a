// The run lock with real processes: owner record, dead owners taken at once, stalled owners taken after the stale time and told so, one winner per takeover.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, readFile, readdir, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStateStore } from '../../src/adapters/state.ts';
import { emptyState, setHolds } from '../../src/core/state.ts';
import { VipError } from '../../src/core/errors.ts';

const made: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'vip-lock-'));
  made.push(d);
  return d;
};
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));
const CHILD = fileURLToPath(new URL('./lock-child.mts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const code = (c: string) => (e: unknown) => e instanceof VipError && e.code === c;
const owner = async (dir: string) => JSON.parse(await readFile(join(dir, 'run.lock'), 'utf8')) as { pid: number; token: string; host: string };

/** A child process holding the lock of DIR; lines() yields its stdout lines. */
async function lockingChild(dir: string, staleMs: number) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(staleMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let err = '';
  const waiting: ((line: string) => void)[] = [];
  const lines: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const next = (timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const ready = lines.shift();
      if (ready !== undefined) return resolve(ready);
      const t = setTimeout(() => reject(new Error(`child said nothing for ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
      waiting.push((l) => {
        clearTimeout(t);
        resolve(l);
      });
    });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const first = await next();
  assert.equal(first, `locked ${child.pid}`, err);
  return {
    pid: child.pid!,
    next,
    send: (line: string) => child.stdin.write(`${line}\n`),
    exited,
    stderr: () => err,
    /** kill by pid if still running (cleanup) */
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid!, 'SIGCONT');
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
  };
}

test('the lock records its owner (pid, token, host) in a 0600 file; a live owner keeps it (exit 75); release frees it', async () => {
  const dir = await tmp();
  const a = createStateStore(dir);
  const b = createStateStore(dir);
  const lock = await a.lock();
  const o = await owner(dir);
  assert.equal(o.pid, process.pid);
  assert.equal(o.host, hostname());
  assert.match(o.token, /^[0-9a-f]{32}$/);
  assert.equal((await stat(join(dir, 'run.lock'))).mode & 0o777, 0o600);
  await assert.rejects(b.lock(), (e: VipError) => e.code === 'VIP_E_LOCKED' && e.exit === 75 && e.message.includes(`pid ${process.pid} on ${hostname()}`));
  await lock.assertHeld();
  await lock.release();
  await lock.release(); // twice is harmless
  assert.deepEqual(await readdir(dir), []);
  const again = await b.lock();
  await again.release();
});

test('lock({ waitMs }) waits for the holder to release', async () => {
  const dir = await tmp();
  const store = createStateStore(dir);
  const first = await store.lock();
  setTimeout(() => void first.release(), 300);
  const t0 = Date.now();
  const second = await store.lock({ waitMs: 3000 });
  assert.ok(Date.now() - t0 >= 250);
  await second.release();
});

test('a lock left by a kill -9 is taken over at once, not after the 30 s stale time', async () => {
  const dir = await tmp();
  const child = await lockingChild(dir, 30_000);
  try {
    assert.equal((await owner(dir)).pid, child.pid);
    await assert.rejects(createStateStore(dir).lock(), code('VIP_E_LOCKED'), 'a live child keeps its lock');
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
    const t0 = Date.now();
    const lock = await createStateStore(dir).lock(); // default stale time: 30 s
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
    assert.equal((await owner(dir)).pid, process.pid);
    await lock.assertHeld();
    await lock.release();
    assert.deepEqual(await readdir(dir), [], 'no claim or temp file left behind');
  } finally {
    child.kill();
  }
});

test('a stalled owner (SIGSTOP) loses the lock after the stale time; resumed, it reports VIP_E_LOCK_LOST and leaves the new lock alone', async () => {
  const dir = await tmp();
  const staleMs = 3000;
  const child = await lockingChild(dir, staleMs);
  try {
    process.kill(child.pid, 'SIGSTOP');
    // The child's last refresh may be up to a third of the stale time old (more on a loaded machine,
    // where its timer runs late): start the stale clock now, as if it had refreshed just before it stopped.
    const now = new Date();
    await utimes(join(dir, 'run.lock'), now, now);
    const store = createStateStore(dir, { staleMs });
    await assert.rejects(store.lock(), code('VIP_E_LOCKED'), 'not taken before the stale time');
    const t0 = Date.now();
    const lock = await store.lock({ waitMs: 10 * staleMs });
    assert.ok(Date.now() - t0 > staleMs / 3, 'taken only once the child had stopped refreshing for the stale time');
    const mine = await owner(dir);
    assert.equal(mine.pid, process.pid);
    // the new owner writes (an operator's hold, say) while the old one is stopped
    const held = setHolds(emptyState(), ['192.0.2.1/32'], { reason: 'maintenance', by: 'op', since: '2026-01-01T00:00:00.000Z', names: [] });
    await store.write(held, lock);

    process.kill(child.pid, 'SIGCONT');
    child.send('check');
    const said: string[] = [];
    for (;;) {
      const line = await child.next();
      said.push(line);
      if (!line.startsWith('compromised')) break;
    }
    const verdict = said.at(-1)!;
    assert.match(verdict, /^VIP_E_LOCK_LOST /, said.join('\n'));
    assert.match(verdict, /stalled|took it over/);
    assert.match(verdict, /stopped before changing anything/);
    // its timer noticed too (or assertHeld did): told once, and the throwing callback crashed nothing
    assert.ok(said.filter((l) => l.startsWith('compromised')).length <= 1);
    child.send('check');
    assert.match(await child.next(), /^VIP_E_LOCK_LOST /, 'lost stays lost');
    child.send('release');
    assert.equal(await child.next(), 'released');
    const [exitCode] = await child.exited;
    assert.equal(exitCode, 0, child.stderr());

    assert.deepEqual(await owner(dir), mine, 'the old owner did not release or touch the new lock');
    await lock.assertHeld();
    assert.deepEqual(await store.read(), held);
    await lock.release();
  } finally {
    child.kill();
  }
});

test('a lock that is no longer ours: the timer records it without throwing, assertHeld and write report VIP_E_LOCK_LOST, release leaves the other lock', async () => {
  const dir = await tmp();
  const told: Error[] = [];
  const store = createStateStore(dir, {
    staleMs: 3000,
    onCompromised: (e) => {
      told.push(e);
      throw new Error('a logger that throws');
    },
  });
  await store.write(emptyState());
  const lock = await store.lock();
  // another run's record replaces ours (as a takeover would)
  const other = { pid: 4242, token: 'f'.repeat(32), host: 'elsewhere', since: '2026-01-01T00:00:00.000Z' };
  await writeFile(join(dir, 'other.tmp'), JSON.stringify(other));
  await rename(join(dir, 'other.tmp'), join(dir, 'run.lock'));
  // the refresh timer (every second) runs and finds it: it must not crash this process
  for (const t0 = Date.now(); told.length === 0 && Date.now() - t0 < 10_000; ) await sleep(50);
  assert.equal(told.length, 1);
  assert.equal((told[0] as VipError).code, 'VIP_E_LOCK_LOST');
  await assert.rejects(lock.assertHeld(), (e: VipError) => e.code === 'VIP_E_LOCK_LOST' && e.exit === 1 && /pid 4242 on elsewhere took it over/.test(e.message));
  const before = await readFile(join(dir, 'state.json'), 'utf8');
  await assert.rejects(store.write(setHolds(emptyState(), ['192.0.2.9/32'], { reason: 'x', by: 'y', since: 'z', names: [] }), lock), code('VIP_E_LOCK_LOST'));
  assert.equal(await readFile(join(dir, 'state.json'), 'utf8'), before, 'a lost lock writes nothing');
  await lock.release();
  assert.equal((await owner(dir)).token, other.token);
  assert.deepEqual((await readdir(dir)).sort(), ['run.lock', 'state.json'], 'no temp file left');
  assert.equal(told.length, 1, 'told once');
});

test('a run stalled past the stale time reports the stall even when nobody took the lock', async () => {
  const dir = await tmp();
  const lock = await createStateStore(dir, { staleMs: 200 }).lock();
  const t0 = Date.now();
  while (Date.now() - t0 < 350); // a blocked event loop: no refresh ran
  await assert.rejects(lock.assertHeld(), (e: VipError) => e.code === 'VIP_E_LOCK_LOST' && /stalled for 0\.\d s/.test(e.message));
  await lock.release(); // still ours: removed
  assert.deepEqual(await readdir(dir), []);
});

test('takeover is atomic: of many runs racing for a dead or a stale lock, exactly one wins', async () => {
  const dir = await tmp();
  // a pid that is surely dead: a process that has exited
  const gone = spawn(process.execPath, ['-e', '0']);
  await once(gone, 'exit');
  const records = {
    dead: { pid: gone.pid, token: 'a'.repeat(32), host: hostname(), since: 'then' },
    stale: { pid: 4242, token: 'b'.repeat(32), host: 'elsewhere', since: 'then' },
  };
  for (let round = 0; round < 12; round++) {
    const kind = round % 2 ? 'stale' : 'dead';
    await writeFile(join(dir, 'run.lock'), JSON.stringify(records[kind]), { mode: 0o600 });
    const old = new Date(Date.now() - 5000);
    if (kind === 'stale') await utimes(join(dir, 'run.lock'), old, old);
    const stores = Array.from({ length: 6 }, () => createStateStore(dir, { staleMs: 2000 }));
    const results = await Promise.allSettled(stores.map((s) => s.lock()));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, `round ${round} (${kind}): ${won.length} winners`);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as VipError).code, 'VIP_E_LOCKED', String(r.reason));
    const lock = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<(typeof stores)[0]['lock']>>>).value;
    await lock.assertHeld();
    await lock.release();
    assert.deepEqual(await readdir(dir), [], `round ${round}: nothing left behind`);
  }
});

test("a takeover claim abandoned by a killed taker does not block the next one; an older vip-mgmt's stale lock dir is taken, a fresh one respected", async () => {
  const dir = await tmp();
  const gone = spawn(process.execPath, ['-e', '0']);
  await once(gone, 'exit');
  const dead = { pid: gone.pid, token: 'c'.repeat(32), host: hostname(), since: 'then' };
  await writeFile(join(dir, 'run.lock'), JSON.stringify(dead));
  await writeFile(join(dir, `run.lock.take-${dead.token}`), JSON.stringify({ ...dead, token: 'd'.repeat(32) }));
  const lock = await createStateStore(dir).lock();
  assert.equal((await owner(dir)).pid, process.pid);
  await lock.release();
  assert.deepEqual(await readdir(dir), []);

  // proper-lockfile's lock: an empty directory run.lock, refreshed by mtime
  await mkdir(join(dir, 'run.lock'));
  await assert.rejects(createStateStore(dir, { staleMs: 1000 }).lock(), code('VIP_E_LOCKED'));
  const old = new Date(Date.now() - 5000);
  await utimes(join(dir, 'run.lock'), old, old);
  const taken = await createStateStore(dir, { staleMs: 1000 }).lock();
  assert.ok((await stat(join(dir, 'run.lock'))).isFile());
  await taken.release();
});
