// Config loader: YAML text -> validated Config, reporting every problem at once with its path.
import { readFile } from 'node:fs/promises';
import { load as loadYaml, YAMLException } from 'js-yaml';
import { z } from 'zod';
import { VipError } from '../core/errors.js';
import { configSchema, type RawConfig } from './schema.js';
import { crossCheck } from './crosscheck.js';

export { DEFAULT_CONFIG_PATH } from './paths.js';

export type Config = RawConfig & { /** where the config was read from */ source: string };

export interface ConfigProblem {
  path: string;
  message: string;
}

/** "services[2].prefer[0]" from zod's path array. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

function problemsOf(error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: formatPath([...issue.path, k]), message: 'unknown key' });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      out.push({ path: formatPath(issue.path), message: 'is required' });
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

/** Validate already-parsed data. Pure: returns problems instead of throwing. */
export function validateConfig(data: unknown, source = '(inline)'): { config?: Config; problems: ConfigProblem[] } {
  const r = configSchema.safeParse(data ?? {});
  const problems = r.success ? [] : problemsOf(r.error);
  const have = new Set(problems.map((p) => p.path));
  for (const p of crossCheck(data)) {
    const path = formatPath(p.path);
    if (!have.has(path)) problems.push({ path, message: p.message });
  }
  if (!r.success || problems.length > 0) return { problems };
  return { config: { ...r.data, source }, problems: [] };
}

/** Parse YAML text and validate it. js-yaml, not the yaml package: a 1,000-service config parsed
 *  in 85 ms instead of 435 ms, and the watchdog parses it every cycle. Duplicate keys are errors. */
export function parseConfigText(text: string, source = '(inline)'): { config?: Config; problems: ConfigProblem[] } {
  let data: unknown;
  try {
    data = loadYaml(text, { filename: source });
  } catch (e) {
    if (!(e instanceof YAMLException)) throw e;
    return { problems: [{ path: e.mark ? `line ${e.mark.line + 1}` : '(yaml)', message: e.reason || e.message.split('\n')[0]! }] };
  }
  return validateConfig(data, source);
}

export function configError(source: string, problems: ConfigProblem[]): VipError {
  const list = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
  return new VipError('VIP_E_CONFIG', `${source}: ${problems.length} configuration problem(s):\n${list}`, {
    path: source,
    problems,
  });
}

/** Read, parse and validate the config file; throws VIP_E_CONFIG listing every problem. */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new VipError('VIP_E_CONFIG', `cannot read config ${path}: ${err.code ?? err.message} (use -c PATH or $VIP_MGMT_CONFIG)`, {
      path,
    });
  }
  const { config, problems } = parseConfigText(text, path);
  if (!config) throw configError(path, problems);
  return config;
}
