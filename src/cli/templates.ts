// The packaged templates (FRR snippet, cron.d entry): embedded in both bundles, read from templates/ otherwise.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VipError } from '../core/errors.js';

export const FRR_TEMPLATE = 'frr.conf.mustache';
export const CRON_TEMPLATE = 'cron.d.mustache';

// scripts/bundle.mjs replaces this identifier with the JSON text of { "<file name>": "<text>" } (esbuild define),
// so dist/vip-mgmt.mjs copied alone to a load balancer needs nothing beside it, and dist/bundle/ does
// not depend on templates/ staying next to it. Unbundled (tsx on src/, tsc's dist/cli/) it is not
// defined and the files are read from the nearest templates/ above this module. The text lands in the
// chunk of this module, which only cron and render import: --help does not load it.
declare const __VIP_MGMT_TEMPLATES__: string | undefined;
const EMBEDDED: Readonly<Record<string, string>> | undefined =
  typeof __VIP_MGMT_TEMPLATES__ === 'undefined' ? undefined : (JSON.parse(__VIP_MGMT_TEMPLATES__) as Record<string, string>);

/** templates/ of the checkout or package: src/cli/ and dist/cli/ are two levels below it. */
function packagedDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return [1, 2, 3].map((up) => join(here, ...Array<string>(up).fill('..'), 'templates')).find((d) => existsSync(join(d, FRR_TEMPLATE))) ?? join(here, '..', '..', 'templates');
}

/**
 * The text of template NAME: from DIR when the operator gave one (render --templates DIR), else the
 * embedded copy, else templates/ on disk. A file that cannot be read is VIP_E_TEMPLATE (exit 1), with
 * the path, never a stack trace.
 */
export async function readTemplate(name: string, dir?: string): Promise<string> {
  if (dir === undefined && EMBEDDED && Object.hasOwn(EMBEDDED, name)) return EMBEDDED[name]!;
  const path = join(dir ?? packagedDir(), name);
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const hint = dir === undefined ? 'the packaged templates/ is incomplete: reinstall, or build with npm run build' : `--templates DIR must hold ${name}`;
    throw new VipError('VIP_E_TEMPLATE', `cannot read the template ${path}: ${code} (${hint})`, { path });
  }
}
