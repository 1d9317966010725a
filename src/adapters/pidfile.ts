// The watchdog daemon's pid file (state_dir/watchdog.pid) and its signal: a daemon claims the file at
// start and removes it at a clean exit; `watchdog --now` reads it and sends the daemon SIGUSR1.
//
// Claiming happens under the run lock (the state store's, see state.ts): two daemons starting at once
// would otherwise both see no live daemon and both write the file. The file is written by the same
// atomic writer as state.json (random temp name opened O_EXCL|O_NOFOLLOW, mode 0600, fsync, rename)
// and read without following a symlink. Which process counts as the daemon is core/pidfile.ts's rule;
// it is what makes reading safe without checking state_dir's owner and mode first: a planted file
// could at most name a real watchdog daemon. Finding and signalling load nothing else (state.ts
// brings the schema library): --now is what keepalived runs, and its time to the router counts.
import { constants } from 'node:fs';
import { open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { VipError } from '../core/errors.js';
import { checkDaemon, formatPidRecord, parsePidRecord, startTimeOf, type PidRecord, type ProcView } from '../core/pidfile.js';
import type { StateStore } from '../core/types.js';

export const PID_FILE = 'watchdog.pid';
/** How long a starting daemon waits for the run lock (an operator's -a/-d) before giving up, exit 75. */
export const CLAIM_WAIT_MS = 10_000;

/** present: a file is at the path (of whatever kind); record: the pid file's record when it is one. */
export type DaemonFound = { file: string; present: boolean } & ({ live: true; record: PidRecord } | { live: false; record: PidRecord | null; why: string });

export interface PidClaim {
  file: string;
  record: PidRecord;
  /** why the pid file that was there is not a live daemon's (it was replaced); null: there was none */
  replaced: string | null;
  /** Remove the file if it is still ours; never throws: the problem, or null. */
  release(): Promise<string | null>;
}

/** What /proc says about a pid now. kill(pid, 0) decides alive (EPERM: alive, another user's). */
export async function procView(pid: number): Promise<ProcView> {
  let alive = true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    alive = (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  if (!alive) return { alive, start: null, cmdline: null };
  const [stat, cmdline] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null), readFile(`/proc/${pid}/cmdline`).catch(() => null)]);
  return {
    alive,
    start: stat === null ? null : startTimeOf(stat),
    // NUL-separated, NUL-terminated
    cmdline: cmdline === null ? null : cmdline.toString('utf8').replace(/\0$/, '').split('\0'),
  };
}

/** The pid file's text; null when there is none. Not a regular file, or a symlink: VIP_E_STATE_IO. */
async function readPidText(file: string): Promise<string | null> {
  let fh: FileHandle | undefined;
  try {
    // O_NOFOLLOW: a symlink planted there is not read through; O_NONBLOCK: a FIFO cannot hang us
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!(await fh.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EFTYPE' });
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    const why = code === 'ELOOP' ? 'it is a symlink' : `${code ?? ''} ${(e as Error).message}`.trim();
    throw new VipError('VIP_E_STATE_IO', `cannot read the watchdog pid file ${file}: ${why}; remove it and start the daemon again`, { path: file });
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** The live watchdog daemon of state_dir `dir`, or why there is none. */
export async function findDaemon(dir: string): Promise<DaemonFound> {
  const file = join(dir, PID_FILE);
  const text = await readPidText(file); // no state_dir: ENOENT too
  if (text === null) return { file, present: false, live: false, record: null, why: `no pid file ${file}` };
  const record = parsePidRecord(text);
  if (!record) return { file, present: true, live: false, record: null, why: `${file} is not a pid file vip-mgmt wrote` };
  const check = checkDaemon(record, await procView(record.pid));
  return check.live ? { file, present: true, live: true, record } : { file, present: true, live: false, record, why: check.why };
}

/** Ask the daemon for a cycle now (SIGUSR1). false: it is gone (exited since it was found). */
export function signalDaemon(record: PidRecord): boolean {
  try {
    process.kill(record.pid, 'SIGUSR1');
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    throw new VipError('VIP_E_FAILED', `cannot signal the watchdog daemon (pid ${record.pid}): ${code ?? (e as Error).message}; run vip-mgmt as the daemon's user (root)`, { pid: record.pid });
  }
}

/** This process's own record. */
async function ownRecord(): Promise<PidRecord> {
  const stat = await readFile('/proc/self/stat', 'utf8').catch(() => '');
  const start = startTimeOf(stat);
  if (start === null) throw new VipError('VIP_E_STATE_IO', 'cannot read /proc/self/stat: the watchdog daemon needs Linux /proc to write a pid file that `watchdog --now` can trust');
  return { pid: process.pid, start, since: new Date().toISOString() };
}

/**
 * Claim state_dir `dir` for this daemon: under the run lock, refuse (VIP_E_DAEMON_RUNNING, exit 75)
 * while another live daemon holds the pid file, else write ours (replacing one a dead or reused pid
 * left). Call it with SIGUSR1 already handled: from the rename on, `watchdog --now` may send one.
 */
export async function claimPidFile(dir: string, store: StateStore, opts: { waitMs?: number } = {}): Promise<PidClaim> {
  const file = join(dir, PID_FILE);
  const { writeAtomic } = await import('./state.js');
  const lock = await store.lock({ waitMs: opts.waitMs ?? CLAIM_WAIT_MS }); // also checks state_dir is safe
  try {
    const found = await findDaemon(dir);
    if (found.live && found.record.pid !== process.pid) {
      throw new VipError(
        'VIP_E_DAEMON_RUNNING',
        `a watchdog daemon already runs on state_dir ${dir} (pid ${found.record.pid}, since ${found.record.since}, pid file ${file}); this one exits and changes nothing. Use "vip-mgmt watchdog --now" to make that daemon run a cycle, or stop it first`,
        { path: file, pid: found.record.pid },
      );
    }
    const record = await ownRecord();
    await writeAtomic(file, formatPidRecord(record), { mode: 0o600, lock });
    return { file, record, replaced: found.present && !found.live ? found.why : null, release: () => releasePidFile(file, record) };
  } finally {
    await lock.release();
  }
}

/** Remove the pid file if it still names this process (no lock needed: nobody replaces the file of
 *  a live daemon, and this one is alive until it returns). */
async function releasePidFile(file: string, me: PidRecord): Promise<string | null> {
  try {
    const text = await readPidText(file);
    const r = text === null ? null : parsePidRecord(text);
    if (!r || r.pid !== me.pid || r.start !== me.start) return text === null ? null : `${file} no longer names this daemon; left as it is`;
    await unlink(file);
    return null;
  } catch (e) {
    return `cannot remove ${file}: ${(e as Error).message}`;
  }
}
