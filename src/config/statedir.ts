// The state_dir of a config file, read without validating the rest: all `watchdog --now` needs to find the daemon.
// From the config cache when this build has validated this very text (config/file.ts), else from
// js-yaml alone: the schema library (zod, ~75 ms to load) and the full check are for when the cycle
// runs in this process; the daemon acts on the config it loaded itself.
import { readFile } from 'node:fs/promises';
import { load as loadYaml } from 'js-yaml';
import { cachedConfig, type LoadOptions } from './file.js';
import { DEFAULT_STATE_DIR } from './paths.js';

/** Below this many characters js-yaml reads the file faster than the cache entry is found, read and
 *  checked (~6 ms; farm-bench, 30 pairs, a 400-byte config); at 68 KB (1,000 services) YAML costs
 *  40-57 ms. */
const CACHE_FROM = 8 << 10;

/** The config's state_dir (the schema's default when it has none); null when the file cannot be
 *  read or parsed or its state_dir is not a string: the full loader then says what is wrong. */
export async function peekStateDir(path: string, cache: LoadOptions = {}): Promise<string | null> {
  try {
    const text = await readFile(path, 'utf8');
    const cached = text.length > CACHE_FROM ? await cachedConfig(path, text, cache) : null;
    if (cached) return cached.state_dir;
    const data = loadYaml(text, { filename: path }) as Record<string, unknown> | null;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
    if (!Object.hasOwn(data, 'state_dir')) return DEFAULT_STATE_DIR;
    return typeof data.state_dir === 'string' ? data.state_dir : null;
  } catch {
    return null;
  }
}
