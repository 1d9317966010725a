// State store: holds, watchdog counters and the DNS cache in one JSON file, written atomically under a run lock.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import writeFileAtomic from 'write-file-atomic';
import { VipError } from '../core/errors.js';
import { emptyState, checkState } from '../core/state.js';
import type { State, StateStore } from '../core/types.js';

export const STATE_FILE = 'state.json';
export const LOCK_FILE = 'run.lock';

export function createStateStore(dir: string, opts: { onCompromised?: (e: Error) => void } = {}): StateStore {
  let lastText: string | null = null; // the file's text as this store last read or wrote it
  const file = join(dir, STATE_FILE);

  async function ensureDir(): Promise<void> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new VipError('VIP_E_STATE_IO', `cannot create state_dir ${dir}: ${(e as Error).message}`, { path: dir });
    }
  }

  return {
    async lock({ waitMs = 0 } = {}) {
      await ensureDir();
      const step = 100;
      try {
        // realpath:false lets the lock exist without a target file; the lock is a directory made
        // atomically by mkdir, refreshed while we run, and taken over only when stale (crashed run).
        const release = await lockfile.lock(dir, {
          lockfilePath: join(dir, LOCK_FILE),
          realpath: false,
          retries: waitMs > 0 ? { retries: Math.ceil(waitMs / step), factor: 1, minTimeout: step, maxTimeout: step } : 0,
          stale: 30_000,
          update: 10_000,
          onCompromised: opts.onCompromised ?? ((e) => { throw e; }),
        });
        return async () => {
          await release().catch(() => undefined);
        };
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'ELOCKED') {
          throw new VipError('VIP_E_LOCKED', `another vip-mgmt run holds the lock ${join(dir, LOCK_FILE)}${waitMs ? ` (waited ${waitMs} ms)` : ''}; nothing was done`, {
            path: join(dir, LOCK_FILE),
          });
        }
        throw new VipError('VIP_E_STATE_IO', `cannot take the lock in ${dir}: ${err.message}`, { path: dir });
      }
    },

    async read() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
        throw new VipError('VIP_E_STATE_IO', `cannot read ${file}: ${(e as Error).message}`, { path: file });
      }
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (e) {
        throw corrupt(file, (e as Error).message);
      }
      const problem = checkState(data);
      if (problem) throw corrupt(file, problem);
      lastText = text;
      return data as State;
    },

    async write(state) {
      const text = JSON.stringify(state, null, 2) + '\n';
      // A quiet watchdog cycle changes nothing: no rewrite (and fsync) of an identical file.
      if (text === lastText) return;
      await ensureDir();
      try {
        await writeFileAtomic(file, text, { mode: 0o644, fsync: true });
        lastText = text;
      } catch (e) {
        throw new VipError('VIP_E_STATE_IO', `cannot write ${file}: ${(e as Error).message}`, { path: file });
      }
    },
  };
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
  await writeFileAtomic(file, text, { mode: 0o644 });
}
