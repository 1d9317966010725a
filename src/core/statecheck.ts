// The one shape rule of the state file (zod): checkState. A module of its own, so that a run whose
// state file is the one a vip-mgmt of the same build wrote and summed (adapters/state.ts) never
// loads zod or builds these schemas.
import { z } from 'zod';
import { normalisePrefix, parseAddress } from './prefix.js';
import { isNameKey, isPrefixKey } from './state.js';

const count = z.number().int().min(0);
const text = z.string();
// route-maps go into a vtysh command line: one word, as FRR names them (VIP-RANK-1, VIP-DRAIN)
const routeMap = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'not a route-map name');
const address = z.string().refine((a) => parseAddress(a)?.address === a, 'not a canonical IP address');

const holdSchema = z.object({ reason: text, by: text, since: text, names: z.array(text), drain: z.object({ until: text }).optional() });
const watchdogSchema = z.object({
  state: z.enum(['up', 'down', 'rising', 'falling', 'held', 'unknown']),
  count,
  live: count.nullable(),
  since: text,
  services: count.optional(),
  gone: count.optional(),
  failing: z.array(text).optional(),
});
const dnsSchema = z.object({ addresses: z.array(address), chain: z.array(text), expires: text, fetched: text });
const announcedSchema = z.object({ routeMap, source: z.enum(['service', 'discover', 'literal']), since: text });

const stateSchema = z.object({
  version: z.literal(1),
  holds: z.record(z.string(), holdSchema),
  watchdog: z.record(z.string(), watchdogSchema),
  dns: z.record(z.string(), dnsSchema),
  announced: z.record(z.string(), announcedSchema).optional(),
  ipvs: z.object({ services: count, distrusted: count }).optional(),
  fleet: z
    .object({
      holds: z.array(z.object({ v: z.literal(1), dc: text, name: text, prefixes: z.array(text), reason: text, by: text, since: text, forced: z.boolean().optional() })),
      fetched: text,
    })
    .optional(),
});

const KEYED = { holds: isPrefixKey, watchdog: isPrefixKey, announced: isPrefixKey, dns: isNameKey } as const;

/** `holds["192.0.2.1/32"].reason`: record keys always in brackets, whatever they look like. */
function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  path.forEach((p, i) => {
    if (typeof p === 'number') out += `[${p}]`;
    else if (i === 1 && String(path[0]) in KEYED) out += `[${JSON.stringify(String(p))}]`;
    else out += out ? `.${String(p)}` : String(p);
  });
  return out || '(top level)';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** null when the document is a valid State, else every problem, each with its path
 *  (`watchdog["192.0.2.1/32"].state: ...`). The one place of the state-file rule. */
export function checkState(data: unknown): string | null {
  if (!isObj(data)) return 'not a JSON object';
  if ('version' in data && data.version !== 1) return `version: unknown version ${JSON.stringify(data.version)} (this vip-mgmt reads version 1)`;
  const problems: string[] = [];
  for (const [section, ok] of Object.entries(KEYED)) {
    const rec = data[section];
    if (!isObj(rec)) continue; // the schema reports it
    for (const key of Object.keys(rec)) {
      if (!ok(key)) {
        const want = ok === isPrefixKey ? 'a host prefix as vip-mgmt writes it' : 'a DNS name';
        const norm = ok === isPrefixKey ? normalisePrefix(key) : null;
        problems.push(`${pathText([section, key])}: key is not ${want}${norm && norm !== key ? ` (did you mean "${norm}"?)` : ''}`);
      }
    }
  }
  const r = stateSchema.safeParse(data);
  if (!r.success) for (const i of r.error.issues) problems.push(`${pathText(i.path)}: ${i.message}`);
  if (problems.length === 0) return null;
  const shown = problems.slice(0, 5).join('; ');
  return problems.length > 5 ? `${shown}; and ${problems.length - 5} more` : shown;
}
