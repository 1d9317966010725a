// Cross-field configuration rules, run on the raw data even when the shape has errors,
// so that `config check` lists every problem in one go. Names from the file are looked up with
// Object.hasOwn or in Maps, never `in`: a DC called "constructor" must not be found on Object.prototype.
import { MAX_PREPEND } from './schema.js';
import { normalisePrefix, insideAny, toVip, vipAddressProblem } from '../core/prefix.js';
import { printable } from '../core/text.js';

export interface Problem {
  path: (string | number)[];
  message: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const int = (v: unknown, dflt: number): number => (Number.isInteger(v) ? (v as number) : dflt);

export function crossCheck(data: unknown): Problem[] {
  const out: Problem[] = [];
  if (!isObj(data)) return out;
  const dcs = isObj(data.datacenters) ? data.datacenters : {};
  const known = (dc: string): boolean => Object.hasOwn(dcs, dc);
  // zod skips a record key "__proto__" without a word (it would replace the result's prototype):
  // say so here, or a DC or mark written that way would vanish silently.
  const protoKey = (rec: unknown, path: string[]): void => {
    if (isObj(rec) && Object.hasOwn(rec, '__proto__')) out.push({ path: [...path, '__proto__'], message: '"__proto__" cannot be a key here' });
  };
  protoKey(data.datacenters, ['datacenters']);
  if (isObj(data.watchdog)) protoKey(data.watchdog.fwmarks, ['watchdog', 'fwmarks']);
  if (typeof data.dc === 'string' && isObj(data.datacenters) && !known(data.dc)) {
    out.push({ path: ['dc'], message: `this host's dc "${printable(data.dc)}" is not listed under datacenters` });
  }
  if (isObj(data.bgp) && data.bgp.speaker === 'quagga' && typeof data.bgp.pathspace === 'string' && data.bgp.pathspace !== '') {
    out.push({ path: ['bgp', 'pathspace'], message: "Quagga's vtysh has no pathspaces (-N): leave pathspace empty with speaker: quagga" });
  }
  const base = isObj(data.prepend) ? int(data.prepend.base, 0) : 0;
  const prefixes = Array.isArray(data.vip_prefixes)
    ? data.vip_prefixes.map((p) => (typeof p === 'string' ? normalisePrefix(p) : null)).filter((p): p is string => !!p)
    : [];
  const services = Array.isArray(data.services) ? data.services : [];
  const seen = new Map<string, number>();
  services.forEach((s, i) => {
    if (!isObj(s)) return;
    if (typeof s.name === 'string') {
      const name = s.name.toLowerCase().replace(/\.$/, '');
      // Other code keys plain objects (the state's DNS cache) by service name.
      if (Object.hasOwn(Object.prototype, name)) {
        out.push({ path: ['services', i, 'name'], message: `"${printable(name)}" cannot be a service name (it is a reserved JavaScript object key)` });
      }
      if (seen.has(name)) out.push({ path: ['services', i, 'name'], message: `service "${printable(name)}" is already listed at services[${seen.get(name)}]` });
      else seen.set(name, i);
    }
    const prefer = Array.isArray(s.prefer) ? s.prefer : [];
    const dup = new Set<unknown>();
    prefer.forEach((d, j) => {
      if (typeof d === 'string' && isObj(data.datacenters) && !known(d)) {
        out.push({ path: ['services', i, 'prefer', j], message: `unknown dc "${printable(d)}"` });
      }
      if (dup.has(d)) out.push({ path: ['services', i, 'prefer', j], message: `dc "${typeof d === 'string' ? printable(d) : String(d)}" is listed twice` });
      dup.add(d);
    });
    const min = int(s.min_realservers, 1);
    const restore = int(s.restore_realservers, min);
    if (restore < min) {
      out.push({
        path: ['services', i, 'restore_realservers'],
        message: `restore_realservers (${restore}) must be >= min_realservers (${min})`,
      });
    }
    // Host health checks: a check list nothing reads, or a live_from with nothing to read, is a typo
    const from = s.live_from ?? 'ipvs';
    const checks = Array.isArray(s.checks) ? s.checks : [];
    if ((from === 'checks' || from === 'both') && checks.length === 0) {
      out.push({ path: ['services', i, 'checks'], message: `live_from: ${from} needs at least one check` });
    }
    if (from === 'ipvs' && checks.length > 0) {
      out.push({ path: ['services', i, 'live_from'], message: 'checks are listed but live_from is ipvs (the default), so they would never count: set live_from: checks or both' });
    }
    if (from === 'checks') {
      for (const k of ['min_realservers', 'restore_realservers'] as const) {
        if (s[k] !== undefined) out.push({ path: ['services', i, k], message: `${k} counts IPVS real servers; with live_from: checks the service is live (1) when all its checks pass, else 0` });
      }
    }
    const top = base + prefer.length - 1;
    if (prefer.length > 0 && top > MAX_PREPEND) {
      out.push({ path: ['services', i, 'prefer'], message: `prepend.base + last rank = ${top} prepends, over the limit of ${MAX_PREPEND}` });
    }
  });
  const wd = isObj(data.watchdog) ? data.watchdog : {};
  if (isObj(wd.fwmarks) && prefixes.length > 0) {
    for (const [mark, vips] of Object.entries(wd.fwmarks)) {
      if (!Array.isArray(vips)) continue;
      vips.forEach((v, j) => {
        // only VIPs the schema accepts: it reports the others (zone ids, IPv4-mapped, multicast...)
        if (typeof v === 'string' && vipAddressProblem(v) === null && !insideAny(toVip(v), prefixes)) {
          out.push({ path: ['watchdog', 'fwmarks', mark, j], message: `${v} is outside vip_prefixes` });
        }
      });
    }
  }
  const wmin = int(wd.min_realservers, 1);
  if (int(wd.restore_realservers, wmin) < wmin) {
    out.push({ path: ['watchdog', 'restore_realservers'], message: `restore_realservers must be >= min_realservers (${wmin})` });
  }
  return out;
}
