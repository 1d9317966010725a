// The state_dir of a config file, read without validating the rest: all `watchdog --now` needs to find the daemon.
// It loads js-yaml only: the schema library (zod, ~75 ms to load) and the full check are for when
// the cycle runs in this process; the daemon acts on the config it loaded itself.
import { readFile } from 'node:fs/promises';
import { load as loadYaml } from 'js-yaml';
import { DEFAULT_STATE_DIR } from './paths.js';

/** The config's state_dir (the schema's default when it has none); null when the file cannot be
 *  read or parsed or its state_dir is not a string: the full loader then says what is wrong. */
export async function peekStateDir(path: string): Promise<string | null> {
  try {
    const data = loadYaml(await readFile(path, 'utf8'), { filename: path }) as Record<string, unknown> | null;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
    if (!Object.hasOwn(data, 'state_dir')) return DEFAULT_STATE_DIR;
    return typeof data.state_dir === 'string' ? data.state_dir : null;
  } catch {
    return null;
  }
}
