// The config file as a run reads it: its text, then the validated config — from the cache when this
// build already validated this very text (same path, same host), else parsed and validated (load.ts:
// js-yaml and zod, loaded only then) and put in the cache.
//
// The cache spares a cron watchdog cycle and every -a/-d the YAML parse and the schema (~40-70 ms at
// 1,000 services before the JIT warms up). Entries are named by the SHA-256 of (build id, host name,
// absolute path, text): another build, another text or another file never matches. The directory is
// $VIP_MGMT_CACHE_DIR ("" turns the cache off), else /var/cache/vip-mgmt for root and
// $XDG_CACHE_HOME/vip-mgmt (~/.cache/vip-mgmt) for others. It is trusted only when it is a real
// directory owned by the user and writable by no one else, and an entry only when it is a regular
// file owned by the user; otherwise the config is parsed as if there were no cache. Writes are
// atomic (adapters/state.ts writeAtomic) and never fail a run; the 32 newest entries are kept.
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { readOwnFile, writeAtomic } from '../adapters/state.js';
import { BUILD_ID } from '../core/build.js';
import { VipError } from '../core/errors.js';
import type { Config } from './load.js';
import { reviveConfig } from './records.js';

export { DEFAULT_CONFIG_PATH } from './paths.js';

const KEEP = 32;
/** Far above any real config's JSON (1,000 services: ~200 KB); a bigger entry is not read. */
const MAX_ENTRY_BYTES = 64 << 20;

/** The text of the config file; a file that cannot be read is VIP_E_CONFIG (exit 3) with the way
 *  to point at another one. */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new VipError('VIP_E_CONFIG', `cannot read config ${path}: ${err.code ?? err.message} (use -c PATH or $VIP_MGMT_CONFIG)`, {
      path,
    });
  }
}

/** The cache directory (module comment), or null when the cache is off. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const set = env.VIP_MGMT_CACHE_DIR;
  if (set !== undefined) return set === '' ? null : set;
  if (process.getuid?.() === 0) return '/var/cache/vip-mgmt';
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'vip-mgmt');
}

export interface LoadOptions {
  /** default: cacheDir() */
  cache?: string | null;
  /** default BUILD_ID (null unbundled: no cache) */
  buildId?: string | null;
}

/** Read, parse and validate the config file; throws VIP_E_CONFIG listing every problem. */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<Config> {
  const text = await readConfigText(path);
  const at = entryOf(path, text, opts);
  const hit = at && (await readEntry(at.dir, at.entry));
  if (hit) return hit;
  const { parseConfigText, configError } = await import('./load.js');
  const { config, problems } = parseConfigText(text, path);
  if (!config) throw configError(path, problems);
  if (at) await writeEntry(at.dir, at.entry, config).catch(() => undefined);
  return config;
}

/** The validated config of TEXT (read from PATH) when the cache has it, else null; never parses
 *  YAML. For `watchdog --now`, which needs only state_dir: a 1,000-service file's YAML parse was
 *  most of its run. */
export async function cachedConfig(path: string, text: string, opts: LoadOptions = {}): Promise<Config | null> {
  const at = entryOf(path, text, opts);
  return at && readEntry(at.dir, at.entry);
}

/** Where the cache keeps the config of TEXT at PATH; null when the cache is off. */
function entryOf(path: string, text: string, opts: LoadOptions): { dir: string; entry: string } | null {
  const buildId = opts.buildId === undefined ? BUILD_ID : opts.buildId;
  const dir = opts.cache === undefined ? cacheDir() : opts.cache;
  if (!buildId || !dir) return null;
  return { dir, entry: join(dir, `config-${createHash('sha256').update(`${buildId}\0${hostname()}\0${resolve(path)}\0${text}`).digest('hex')}.json`) };
}

const uid = (): number | undefined => process.getuid?.();

/** True when DIR is a real directory owned by this user and writable by no one else. */
async function trusted(dir: string): Promise<boolean> {
  try {
    const s = await lstat(dir);
    return s.isDirectory() && (uid() === undefined || s.uid === uid()) && (s.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

async function readEntry(dir: string, entry: string): Promise<Config | null> {
  const text = await readOwnFile(entry, MAX_ENTRY_BYTES);
  if (text === null || !(await trusted(dir))) return null;
  try {
    return reviveConfig(JSON.parse(text) as Config);
  } catch {
    return null; // not JSON: parse the config
  }
}

async function writeEntry(dir: string, entry: string, config: Config): Promise<void> {
  try {
    await stat(dir);
  } catch {
    const made = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (made !== undefined) await chmod(dir, 0o700);
  }
  if (!(await trusted(dir))) return;
  await writeAtomic(entry, JSON.stringify(config), { mode: 0o600 });
  const names = (await readdir(dir)).filter((n) => n.startsWith('config-') && n.endsWith('.json'));
  if (names.length <= KEEP) return;
  const aged = await Promise.all(names.map(async (n) => ({ n, t: (await lstat(join(dir, n)).catch(() => null))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.t - b.t);
  await Promise.all(aged.slice(0, aged.length - KEEP).map((a) => unlink(join(dir, a.n)).catch(() => undefined)));
}
