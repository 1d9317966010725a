// `config check`: validate the config file, list every problem with its path, exit 3 when invalid.
import { EXIT } from '../core/errors.js';
import { readConfigText } from '../config/file.js';
import { formatPath, parseConfigText, type ConfigProblem } from '../config/load.js';
import type { GlobalOptions } from './context.js';
import { makeOutput } from './deps.js';

export async function configCheckCommand(g: GlobalOptions, opts: { resolve: boolean }): Promise<number> {
  const out = makeOutput();
  const text = await readConfigText(g.config); // a missing file says how to point at another one, as every command does
  const { config, problems } = parseConfigText(text, g.config);
  const warnings: string[] = [];
  if (config && config.services.some((s) => s.checks.length > 0)) {
    // a check that cannot run (program missing, CA file unreadable) is a configuration error
    const { unrunnableChecks } = await import('../adapters/checks.js');
    for (const p of await unrunnableChecks(config.services)) problems.push({ path: formatPath(p.path), message: p.message });
  }
  if (config && opts.resolve && config.services.length > 0) {
    // A VIP claimed by two services with different preferences can only be seen through DNS.
    const [{ resolverFromConfig }, { resolveAll }, { findConflicts }] = await Promise.all([
      import('../adapters/dns.js'),
      import('./change.js'),
      import('../core/render.js'),
    ]);
    const { resolved, errors } = await resolveAll({ resolver: resolverFromConfig(config.dns) }, config.services.map((s) => s.name));
    for (const e of errors) warnings.push(`DNS: ${e.message} (the VIP conflict check skipped this name)`);
    for (const c of findConflicts(config, new Map(resolved.map((r) => [r.name, r])))) problems.push(c);
  }
  const valid = problems.length === 0;
  if (g.json) {
    out.json({ valid, path: g.config, problems, warnings });
  } else {
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    if (valid) out.data(`${g.config}: OK (${config!.services.length} services, ${Object.keys(config!.datacenters).length} datacenters, dc ${config!.dc})`);
    else out.data(`${g.config}: ${problems.length} problem(s)\n${problems.map((p: ConfigProblem) => `  ${p.path}: ${p.message}`).join('\n')}`);
  }
  return valid ? EXIT.OK : EXIT.CONFIG;
}
