// State store: holds, watchdog counters, the announcement journal and the DNS cache in one JSON file in a
// private state_dir, written atomically under a run lock that knows its owner.
//
// Why our own lock instead of proper-lockfile (as read in its 4.1.2 source, lib/lockfile.js):
// - it records no owner, so a lock left by a `kill -9` blocked every run (exit 75) for the whole
//   30 s stale time; ours names pid, token and host, and a dead pid on this host is taken over at once;
// - its stale takeover is rmdir + mkdir: two runs that both see the lock stale can both win (the
//   second removes the first one's fresh lock). Ours replaces a stale lock only under a claim file
//   named after the stale owner's token and created with O_EXCL, so one taker wins;
// - its onCompromised fires from a timer and, left at the default, throws there (the process dies);
//   ours only records the loss, and assertHeld reports it before the next side effect;
// - it creates the lock with the umask (world-writable under umask 000); ours is 0600 whatever the umask.
// The lock is a small file `run.lock` (JSON owner record) made complete then hard-linked into place:
// link(2) never replaces, so two fresh acquirers cannot both win, and a reader never sees it half
// written. A holder refreshes its mtime; a holder that finds it has not refreshed for the stale time
// (SIGSTOP, VM pause, a blocked event loop) treats the lock as lost, as a taker would. The one gap no
// file lock closes: a run stopped for longer than the stale time between its last assertHeld() and the
// rename right after it. proper-lockfile's mkdir lock dir `run.lock` and ours exclude each other, so an
// old version still running during an upgrade is respected (its lock dir is removed only when stale).
//
// Writes never use a predictable temp name (write-file-atomic 6 opens <file>.<murmurhash of pid and
// a counter> with flag 'w', no O_EXCL/O_NOFOLLOW, so a planted symlink redirects the write): ours is
// a random name opened O_EXCL|O_NOFOLLOW, fchmod to the wanted mode, fsync, rename, fsync of the dir.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, open, readdir, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { VipError } from '../core/errors.js';
import { BUILD_ID } from '../core/build.js';
import { emptyState } from '../core/state.js';
import type { RunLock, State, StateStore } from '../core/types.js';

export const STATE_FILE = 'state.json';
/** `<build id> <SHA-256 of state.json>` as the last write left it: a file this build wrote needs no
 *  re-check (checkState, zod: ~40-70 ms of a cold process at 1,000 VIPs). Any other text, a missing
 *  or stale sum, or another build: the file is checked in full, as before. */
export const SUM_FILE = 'state.json.sum';
export const LOCK_FILE = 'run.lock';
/** A lock not refreshed for this long may be taken from a live owner (a dead one's at once). */
export const DEFAULT_STALE_MS = 30_000;
const CLAIM_PREFIX = `${LOCK_FILE}.take-`;
const CLAIM_SLOTS = 4;

export interface StateStoreOptions {
  /** How long a lock may go unrefreshed before another run may take it over (default 30 s). A
   *  holder refreshes every third of it; one that could not for this long reports VIP_E_LOCK_LOST. */
  staleMs?: number;
  /** Told (once) when the background refresh finds the lock lost; never called from inside a throw. */
  onCompromised?: (e: Error) => void;
  /** The build whose writes are taken as checked (default BUILD_ID, null unbundled: never). */
  buildId?: string | null;
}

interface Owner {
  pid: number;
  token: string;
  host: string;
  since: string;
}

// tokens of the locks this process holds now: a lock file naming our own pid with another token is
// left over from an earlier lock of this process (a daemon's previous cycle) and is dead
const liveTokens = new Set<string>();

export function createStateStore(dir: string, opts: StateStoreOptions = {}): StateStore {
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  let lastText: string | null = null; // the file's text as this store last read or wrote it
  const file = join(dir, STATE_FILE);
  const sumFile = join(dir, SUM_FILE);
  const lockPath = join(dir, LOCK_FILE);
  const buildId = opts.buildId === undefined ? BUILD_ID : opts.buildId;
  const sumOf = (text: string): string | null => (buildId ? `${buildId} ${createHash('sha256').update(text).digest('hex')}\n` : null);

  /** Is the lock at `cur` one a new run may take: its owner is dead on this host, or it is stale. */
  function takeable(cur: Seen): boolean {
    const o = cur.owner;
    if (o && o.host === hostname() && (o.pid === process.pid ? !liveTokens.has(o.token) : pidDead(o.pid))) return true;
    return Date.now() - cur.mtimeMs > staleMs;
  }

  /** Create claim slot 0 for KEY, or the first slot after abandoned ones (their taker died or stalled
   *  past the stale time). 'busy': a live run holds a claim; 'gone': it vanished meanwhile, look again. */
  async function claim(key: string, me: string): Promise<string | 'busy' | 'gone'> {
    for (let slot = 0; slot < CLAIM_SLOTS; slot++) {
      const p = join(dir, `${CLAIM_PREFIX}${key}${slot ? `.${slot}` : ''}`);
      if (await linkNew(p, me)) return p;
      const c = await inspect(p);
      if (!c) return 'gone';
      if (!takeable(c)) return 'busy';
    }
    throw new VipError('VIP_E_STATE_IO', `the run lock in ${dir} has ${CLAIM_SLOTS} abandoned takeover claims; remove ${join(dir, `${CLAIM_PREFIX}*`)} and run again`, { path: dir });
  }

  async function dropClaims(key: string): Promise<void> {
    // side by side: four unlinks in turn were four trips to the thread pool at the end of every run
    await Promise.all(Array.from({ length: CLAIM_SLOTS }, (_, slot) => unlinkQuiet(join(dir, `${CLAIM_PREFIX}${key}${slot ? `.${slot}` : ''}`))));
  }

  const keyOf = (s: Seen): string => s.owner?.token ?? `ino${s.ino}`;

  /** One attempt to take the lock: true, or the record of the run that holds it (null: unknown). */
  async function tryLock(me: Owner): Promise<true | { holder: Owner | null }> {
    const record = `${JSON.stringify(me)}\n`;
    let cur: Seen | null = null;
    for (let attempt = 0; attempt < 8; attempt++) {
      if (await linkNew(lockPath, record)) return true; // free: link(2) never replaces
      cur = await inspect(lockPath);
      if (!cur) continue; // released meanwhile
      if (!takeable(cur)) return { holder: cur.owner };
      if (cur.dir) {
        // proper-lockfile's lock of an older vip-mgmt, stale: it is an empty directory, and rmdir
        // cannot remove a file lock that a faster taker put in its place
        await rmdir(lockPath).catch(() => undefined);
        continue;
      }
      const key = keyOf(cur);
      const c = await claim(key, record);
      if (c === 'busy') return { holder: cur.owner };
      if (c === 'gone') continue;
      const claimedAt = performance.now();
      try {
        // Under the claim nobody else may replace a lock with this key: check it is still the one
        // we judged, then replace it in one rename (run.lock is never missing, so no fresh
        // acquirer can slip in between).
        const again = await inspect(lockPath);
        if (!again || again.dir || again.ino !== cur.ino || keyOf(again) !== key || !takeable(again)) continue;
        if (performance.now() - claimedAt > staleMs / 2) continue; // we stalled: our view is old
        await withTemp(lockPath, record, (tmp) => rename(tmp, lockPath));
        await dropClaims(key);
        return true;
      } finally {
        await unlinkQuiet(c);
      }
    }
    return { holder: cur?.owner ?? null };
  }

  /** Leftovers of killed runs: claims on locks that are gone, temp files older than the stale time. */
  async function sweep(me: Owner): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (n.startsWith(CLAIM_PREFIX) && !n.startsWith(`${CLAIM_PREFIX}${me.token}`)) await unlinkQuiet(join(dir, n));
      else if (TEMP_NAME.test(n)) {
        const s = await lstat(join(dir, n)).catch(() => null);
        if (s && Date.now() - s.mtimeMs > staleMs) await unlinkQuiet(join(dir, n));
      }
    }
  }

  function heldLock(me: Owner, wall: number, mono: number): RunLock {
    let lost: string | null = null;
    let released = false;
    const lostError = (why: string) =>
      new VipError('VIP_E_LOCK_LOST', `this run lost its run lock ${lockPath}: ${why}; it stopped before changing anything more (run it again)`, {
        path: lockPath,
      });
    const fail = (why: string): never => {
      if (!lost) {
        lost = why;
        liveTokens.delete(me.token);
        try {
          opts.onCompromised?.(lostError(why));
        } catch {
          // a logger that throws must not turn a lost lock into a crash from a timer
        }
      }
      throw lostError(lost);
    };

    async function check(): Promise<void> {
      if (released) throw lostError('it was released');
      if (lost) throw lostError(lost);
      const idle = Math.max(Date.now() - wall, performance.now() - mono);
      if (idle > staleMs) fail(`it stalled for ${secs(idle)} without refreshing the lock (stale time ${secs(staleMs)}), so another run may have taken it`);
      // an I/O error proves nothing either way: this call fails, the next one may succeed
      const unsure = (e: unknown): never => {
        throw lostError(`cannot check or refresh it (${errText(e)})`);
      };
      const cur = await inspect(lockPath).catch(unsure);
      if (!cur || cur.owner?.token !== me.token) fail(takenBy(cur));
      const w = Date.now();
      const m = performance.now();
      await lutimes(lockPath, w / 1000, w / 1000).catch(unsure);
      // a takeover between our look and the refresh (we stopped in between) shows now
      const after = await inspect(lockPath).catch(unsure);
      if (!after || after.owner?.token !== me.token) fail(takenBy(after));
      wall = w;
      mono = m;
    }

    const timer = setInterval(() => {
      check().catch(() => undefined); // recorded by fail(); assertHeld reports it
    }, Math.max(20, Math.floor(staleMs / 3)));
    timer.unref();

    return {
      assertHeld: check,
      async release() {
        if (released) return;
        released = true;
        clearInterval(timer);
        // Remove it only if it is ours, and under a claim on our own token so that no taker can
        // replace it between our look and the unlink. A busy claim means a taker is at it: leave it.
        try {
          const c = await claim(me.token, `${JSON.stringify(me)}\n`);
          if (c === 'busy' || c === 'gone') return;
          try {
            const cur = await inspect(lockPath);
            if (cur && !cur.dir && cur.owner?.token === me.token) await unlinkQuiet(lockPath);
          } finally {
            await dropClaims(me.token);
          }
        } catch {
          // an unreadable lock stays; the next run sees our pid dead and takes it at once
        } finally {
          liveTokens.delete(me.token);
        }
      },
    };
  }

  return {
    async lock({ waitMs = 0 } = {}) {
      await safeDir(dir, true);
      const me: Owner = { pid: process.pid, token: randomBytes(16).toString('hex'), host: hostname(), since: new Date().toISOString() };
      const deadline = Date.now() + waitMs;
      liveTokens.add(me.token); // our claims are a live run's from the first one on
      try {
        for (;;) {
          const wall = Date.now();
          const mono = performance.now();
          let r: Awaited<ReturnType<typeof tryLock>>;
          try {
            r = await tryLock(me);
          } catch (e) {
            if (e instanceof VipError) throw e;
            throw new VipError('VIP_E_STATE_IO', `cannot take the lock ${lockPath}: ${errText(e)}`, { path: lockPath });
          }
          if (r === true) {
            await sweep(me);
            return heldLock(me, wall, mono);
          }
          const left = deadline - Date.now();
          if (left <= 0) {
            const who = r.holder ? ` (pid ${r.holder.pid} on ${r.holder.host}, since ${r.holder.since})` : '';
            throw new VipError('VIP_E_LOCKED', `another vip-mgmt run holds the lock ${lockPath}${who}${waitMs ? ` (waited ${waitMs} ms)` : ''}; nothing was done`, {
              path: lockPath,
              holder: r.holder,
            });
          }
          await new Promise((res) => setTimeout(res, Math.min(100, left)));
        }
      } catch (e) {
        liveTokens.delete(me.token);
        throw e;
      }
    },

    async read() {
      if (!(await safeDir(dir, false))) return emptyState();
      let text: string;
      let fh: FileHandle | undefined;
      try {
        // O_NONBLOCK: a FIFO planted at the path must not hang the run
        fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
        if (!(await fh.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EFTYPE' });
        text = await fh.readFile('utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
        throw new VipError('VIP_E_STATE_IO', `cannot read ${file}: ${errText(e)}`, { path: file, errno: (e as NodeJS.ErrnoException).code });
      } finally {
        await fh?.close().catch(() => undefined);
      }
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (e) {
        throw corrupt(file, (e as Error).message);
      }
      // read after the text: a write in between leaves a sum of the new text, which does not match
      const sum = sumOf(text);
      if (sum === null || (await readOwnFile(sumFile, 4096)) !== sum) {
        const problem = (await import('../core/statecheck.js')).checkState(data);
        if (problem) throw corrupt(file, problem);
      }
      lastText = text;
      return data as State;
    },

    async write(state, lock) {
      await safeDir(dir, true);
      const text = JSON.stringify(state, null, 2) + '\n';
      // A quiet watchdog cycle changes nothing: no rewrite (and fsync) of an identical file.
      if (text === lastText) return;
      lastText = null; // unknown until this write is known to have landed
      await writeAtomic(file, text, { mode: 0o600, lock });
      lastText = text;
      // after the state: a sum that did not land leaves the old one, which no longer matches
      const sum = sumOf(text);
      if (sum) await writeAtomic(sumFile, sum, { mode: 0o600 }).catch(() => undefined);
    },
  };
}

/** The text of a file this user wrote for itself (the state sum, a cached config), or null when it
 *  is missing, unreadable, a symlink, not a regular file, larger than MAXBYTES, owned by someone
 *  else or writable by group or others: the caller then does without it. */
export async function readOwnFile(path: string, maxBytes: number): Promise<string | null> {
  let fh: FileHandle | undefined;
  try {
    // O_NOFOLLOW: a planted symlink is not read through; O_NONBLOCK: a planted FIFO cannot hang us
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    const st = await fh.stat();
    const uid = process.getuid?.();
    if (!st.isFile() || st.size > maxBytes || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) return null;
    return await fh.readFile('utf8');
  } catch {
    return null;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function corrupt(file: string, why: string): VipError {
  return new VipError(
    'VIP_E_STATE_CORRUPT',
    `state file ${file} is corrupt (${why}); it holds maintenance holds, so it is not reset silently: inspect it, then move it aside to start afresh`,
    { path: file },
  );
}

/** Write a whole file atomically (temp file + rename), e.g. the metrics textfile a scraper reads. */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
  await writeAtomic(file, text, { mode: 0o644 });
}

// ---- the writer -----------------------------------------------------------------------------------

const TEMP_NAME = /^\..+\.[0-9a-f]{16}\.tmp$/;
const randomTemp = (file: string): string => join(dirname(file), `.${basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
const OPEN_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface WriteOptions {
  /** the file's mode, set with fchmod so the umask neither widens nor narrows it */
  mode: number;
  /** asserted right before the rename: a run that lost its lock replaces nothing */
  lock?: Pick<RunLock, 'assertHeld'> | null;
  /** the temp file's path (tests plant things there); default: a random name beside `file` */
  tempName?: (file: string) => string;
}

/** Replace `file` with `text`: a new temp file (O_EXCL|O_NOFOLLOW: never an existing file or a
 *  symlink), fsync, rename over `file` (a symlink there is replaced, not followed), fsync of the
 *  directory. Any failure removes the temp file and throws VIP_E_STATE_IO (VIP_E_LOCK_LOST from
 *  the lock); `file` is then as it was. */
export async function writeAtomic(file: string, text: string, opts: WriteOptions): Promise<void> {
  const tmp = (opts.tempName ?? randomTemp)(file);
  let fh: FileHandle | undefined;
  let created = false;
  try {
    fh = await open(tmp, OPEN_NEW, 0o600);
    created = true;
    await fh.chmod(opts.mode);
    await fh.writeFile(text, 'utf8');
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (opts.lock) await opts.lock.assertHeld();
    await rename(tmp, file);
    created = false;
  } catch (e) {
    await fh?.close().catch(() => undefined);
    if (created) await unlinkQuiet(tmp);
    if (e instanceof VipError) throw e;
    throw ioError(file, e);
  }
  try {
    await syncDir(dirname(file));
  } catch (e) {
    throw ioError(file, e, 'the new content is in place but may not survive a power loss');
  }
}

function ioError(file: string, e: unknown, after = `${basename(file)} is unchanged`): VipError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' ? 'the disk is full (ENOSPC): free space, then run again' : code === 'EDQUOT' ? 'the disk quota is exhausted (EDQUOT)' : errText(e);
  return new VipError('VIP_E_STATE_IO', `cannot write ${file}: ${why}; ${after}`, { path: file, errno: code });
}

async function syncDir(d: string): Promise<void> {
  const fh = await open(d, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw e; // filesystems that cannot sync a directory
  } finally {
    await fh.close();
  }
}

/**
 * Run fn with a new private (0600) temp file holding `text` beside `target`; the temp is gone
 * afterwards. For the lock and its takeover claims, which coordinate live processes: other
 * processes see the text through the page cache, so there is no fsync (1-4 ms each here, far more
 * on a busy disk, twice a run). After a crash a record may come back empty: a lock whose owner
 * cannot be read is taken once it is stale, and no run outlives a reboot anyway.
 */
async function withTemp<T>(target: string, text: string, fn: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = randomTemp(target);
  const fh = await open(tmp, OPEN_NEW, 0o600);
  try {
    try {
      await fh.writeFile(text, 'utf8');
    } finally {
      await fh.close();
    }
    return await fn(tmp);
  } finally {
    await unlinkQuiet(tmp);
  }
}

/** Create `target` holding `text`, complete from its first moment; false when it exists. */
async function linkNew(target: string, text: string): Promise<boolean> {
  try {
    await withTemp(target, text, (tmp) => link(tmp, target));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

async function unlinkQuiet(p: string): Promise<void> {
  await unlink(p).catch(() => undefined);
}

// ---- lock records ---------------------------------------------------------------------------------

interface Seen {
  ino: number;
  mtimeMs: number;
  /** null when the content is not an owner record we wrote */
  owner: Owner | null;
  /** a directory: proper-lockfile's lock */
  dir: boolean;
}

/** What is at `p` now, read without following a symlink; null when nothing is. */
async function inspect(p: string): Promise<Seen | null> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const s = await fh.stat();
    if (!s.isFile()) return { ino: s.ino, mtimeMs: s.mtimeMs, owner: null, dir: s.isDirectory() };
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return { ino: s.ino, mtimeMs: s.mtimeMs, owner: parseOwner(buf.subarray(0, bytesRead).toString('utf8')), dir: false };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') {
      const s = await lstat(p).catch(() => null); // a symlink: someone else's, judged by age alone
      return s && { ino: s.ino, mtimeMs: s.mtimeMs, owner: null, dir: false };
    }
    throw e;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function parseOwner(text: string): Owner | null {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    // pid 0 and -1 would make kill(pid, 0) ask about a process group or every process
    if (!Number.isSafeInteger(o.pid) || (o.pid as number) < 2) return null;
    if (typeof o.token !== 'string' || !/^[0-9a-f]{32}$/.test(o.token) || typeof o.host !== 'string') return null;
    return { pid: o.pid as number, token: o.token, host: o.host, since: typeof o.since === 'string' ? o.since : '?' };
  } catch {
    return null;
  }
}

function pidDead(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: alive, another user's
  }
}

function takenBy(cur: Seen | null): string {
  if (!cur) return 'the lock file is gone';
  if (cur.owner) return `pid ${cur.owner.pid} on ${cur.owner.host} took it over at ${cur.owner.since}`;
  return 'something else replaced the lock file';
}

// ---- state_dir --------------------------------------------------------------------------------------

/** Check (and with `create`, make, mode 0700) the state_dir: a directory of the running uid that
 *  no group or other user can write, else anyone who can could forge holds or steal the lock.
 *  false: it does not exist (and create was not asked). stat, not lstat: a symlink to a safe
 *  directory is fine. Throws VIP_E_STATE_UNSAFE / VIP_E_STATE_IO. */
export async function safeDir(dir: string, create: boolean): Promise<boolean> {
  let s;
  try {
    s = await stat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new VipError('VIP_E_STATE_IO', `cannot use state_dir ${dir}: ${errText(e)}`, { path: dir });
    if (!create) return false;
    try {
      // the mode passed to mkdir goes through the umask; chmod makes it exactly 0700
      const made = await mkdir(dir, { recursive: true, mode: 0o700 });
      if (made !== undefined) await chmod(dir, 0o700);
      s = await stat(dir);
    } catch (e2) {
      throw new VipError('VIP_E_STATE_IO', `cannot create state_dir ${dir}: ${errText(e2)}`, { path: dir });
    }
  }
  if (!s.isDirectory()) throw new VipError('VIP_E_STATE_IO', `state_dir ${dir} is not a directory`, { path: dir });
  const uid = process.getuid?.();
  if (uid === undefined) return true;
  const me = uid === 0 ? 'root' : userName(uid);
  const q = shellQuote(dir);
  if (s.uid !== uid) {
    throw new VipError(
      'VIP_E_STATE_UNSAFE',
      `state_dir ${dir} is owned by uid ${s.uid}, not by ${me} who runs vip-mgmt: that user could forge holds or take the lock; nothing was done. Fix: chown ${me}: ${q} && chmod 700 ${q}`,
      { path: dir, uid: s.uid },
    );
  }
  if (s.mode & 0o022) {
    const who = [s.mode & 0o020 ? 'group' : '', s.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
    throw new VipError(
      'VIP_E_STATE_UNSAFE',
      `state_dir ${dir} is writable by ${who} (mode ${(s.mode & 0o7777).toString(8).padStart(4, '0')}): they could forge holds or take the lock; nothing was done. Fix: chmod 700 ${q}`,
      { path: dir, mode: s.mode & 0o7777 },
    );
  }
  return true;
}

function userName(uid: number): string {
  try {
    return userInfo().username;
  } catch {
    return String(uid);
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
