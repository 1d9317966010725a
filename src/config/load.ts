// Config parser: YAML text -> validated Config, reporting every problem at once with its path. The
// file itself is read by file.ts (loadConfig), which loads this module only when its cache misses.
import { load as loadYaml, YAMLException } from 'js-yaml';
import { z } from 'zod';
import { VipError } from '../core/errors.js';
import { printable } from '../core/text.js';
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
    else out += out ? `.${printable(String(p))}` : printable(String(p));
  }
  return out || '(top level)';
}

function problemsOf(error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: formatPath([...issue.path, k]), message: 'unknown key' });
    } else if (issue.code === 'invalid_key') {
      // a record's key (a DC name, a firewall mark): the key schema's own words say what is wrong
      out.push({ path: formatPath(issue.path), message: issue.issues[0]?.message ?? issue.message });
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

/** Most values a config may hold once its aliases are expanded. A real one with 1,000 services
 *  has about 10,000; a few lines of nested aliases ("billion laughs") can reach billions, which
 *  the schema would walk one by one. */
export const MAX_CONFIG_VALUES = 200_000;

/** True when DATA, walked as the schema would walk it (aliases once per use), stays within LIMIT values. */
function withinBudget(data: unknown, limit: number): boolean {
  const stack: unknown[] = [data];
  let seen = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    if (++seen > limit) return false;
    if (typeof v !== 'object' || v === null) continue;
    // one push per value: a spread of a 500,000-item list would overflow the call stack
    for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push(x);
  }
  return true;
}

/** Parse YAML text and validate it. js-yaml, not the yaml package: a 1,000-service config parsed
 *  in 85 ms instead of 435 ms, and the watchdog parses it every cycle. Duplicate keys are errors.
 *  Never throws: whatever the text, the answer is a config or a list of problems. */
export function parseConfigText(text: string, source = '(inline)'): { config?: Config; problems: ConfigProblem[] } {
  let data: unknown;
  try {
    data = loadYaml(text, { filename: source });
  } catch (e) {
    if (e instanceof YAMLException && e.mark) {
      const where = `${printable(source)}:${e.mark.line + 1}:${e.mark.column + 1}`;
      const what = printable(e.reason || e.message.split('\n')[0]!);
      return { problems: [{ path: `line ${e.mark.line + 1}`, message: `${what} (YAML syntax error at ${where})` }] };
    }
    const what = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    return { problems: [{ path: '(yaml)', message: `${printable(what)} (YAML error in ${printable(source)})` }] };
  }
  if (!withinBudget(data, MAX_CONFIG_VALUES)) {
    return {
      problems: [{
        path: '(yaml)',
        message: `more than ${MAX_CONFIG_VALUES} values once its aliases are expanded (or an alias that contains itself): write the values out`,
      }],
    };
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
