// Lab prerequisites: outside CI a missing tool skips the test and says why; with CI=true it fails.
import type { TestContext } from 'node:test';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const inCI = process.env.CI === 'true';

/** Absolute path of an executable found on PATH (or the path itself if absolute), else null. */
export function which(cmd: string): string | null {
  if (cmd.includes('/')) {
    try {
      accessSync(cmd, constants.X_OK);
      return cmd;
    } catch {
      return null;
    }
  }
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/lib/frr']);
  for (const d of dirs) {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return join(d, cmd);
    } catch {
      /* next */
    }
  }
  return null;
}

/** Returns the missing prerequisites among commands (and root when asked). */
export function missing(cmds: string[], opts: { root?: boolean } = {}): string[] {
  const out = cmds.filter((c) => !which(c));
  if (opts.root && process.getuid?.() !== 0) out.push('root privileges');
  return out;
}

/**
 * Check a test's prerequisites. Returns true when the test can run. Outside CI a missing one
 * skips the test with the reason printed; with CI=true it throws, so the run fails.
 */
export function requireLab(t: TestContext, cmds: string[], opts: { root?: boolean } = {}): boolean {
  const gone = missing(cmds, opts);
  if (gone.length === 0) return true;
  return skipOutsideCI(t, `lab prerequisite missing: ${gone.join(', ')} (npm test installs them when run as root)`);
}

/** A test that cannot run here: outside CI it is skipped with the reason printed; with CI=true it
 *  throws, so the run fails. Returns false (for `return skipOutsideCI(...)` in a test body). */
export function skipOutsideCI(t: TestContext, why: string): false {
  if (inCI) throw new Error(`${why}; CI=true, so this is a failure, not a skip`);
  console.log(`# SKIP ${t.name}: ${why}`);
  t.skip(why);
  return false;
}
