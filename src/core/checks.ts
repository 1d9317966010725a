// Host health checks, the pure side (SPEC "Host health checks"): a check's name in logs, and a VIP's live count from check results and IPVS.
//
// The adapter (adapters/checks.ts) runs the checks; this file only judges their outcomes, so the
// watchdog cycle (cycle.ts) stays one pure function with the results as one more input. A service's
// live value then goes through the same policy thresholds and decide() as an IPVS count does.
import type { ServiceConfig, CheckConfig } from '../config/schema.js';

export type { CheckConfig };
export type LiveFrom = ServiceConfig['live_from'];

/** What one run of one check found. */
export interface CheckOutcome {
  ok: boolean;
  /** why, short and stable: "HTTP 200", "HTTP 404", "timeout after 1000ms", "exit 3", "ECONNREFUSED" */
  detail: string;
  /** how long the check took, ms */
  ms: number;
}

/** Service name -> one outcome per check, in config order; a missing entry or outcome: not run yet. */
export type CheckResults = ReadonlyMap<string, readonly (CheckOutcome | undefined)[]>;

const hostPort = (t: { host: string; port: number }) => (t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`);

/** How a check is named in log lines, status and metrics labels. */
export function checkLabel(c: CheckConfig): string {
  switch (c.type) {
    case 'http':
      return `http ${c.url}`;
    case 'tcp':
      return `tcp ${hostPort(c.target)}`;
    case 'dns':
      return `dns ${c.name}/${c.qtype} @${hostPort(c.server)}`;
    case 'exec':
      return `exec ${c.argv.join(' ')}`;
  }
}

/** True when some service's liveness comes from IPVS (and discover always reads it): without one,
 *  the watchdog does not read the table at all, so a host with no IPVS never fails static on it. */
export function needsIpvs(config: { services: Pick<ServiceConfig, 'live_from'>[]; watchdog: { discover: boolean } }): boolean {
  return config.watchdog.discover || config.services.length === 0 || config.services.some((s) => s.live_from !== 'checks');
}

export interface ChecksVerdict {
  /** all pass; null when one has no outcome yet and none fails (unknown: change nothing) */
  pass: boolean | null;
  /** "http http://127.0.0.1:8080/health: HTTP 404", one per failing check */
  failing: string[];
}

export function checksVerdict(service: Pick<ServiceConfig, 'name' | 'checks'>, results: CheckResults): ChecksVerdict {
  const got = results.get(service.name) ?? [];
  const failing: string[] = [];
  let unknown = false;
  (service.checks ?? []).forEach((c, i) => {
    const o = got[i];
    if (!o) unknown = true;
    else if (!o.ok) failing.push(`${checkLabel(c)}: ${o.detail}`);
  });
  // one known failure is enough to know the service is down
  return { pass: failing.length > 0 ? false : unknown ? null : true, failing };
}

export interface VipLive {
  /** what decide() compares with the thresholds; null: not known this cycle (change nothing) */
  live: number | null;
  /** the IPVS count of the VIP when a claiming service uses it (null: not read or not believed) */
  ipvs: number | null;
  usesIpvs: boolean;
  usesChecks: boolean;
  failing: string[];
}

/**
 * A VIP's live value from the services claiming it (none: a discovered VIP, IPVS alone):
 * `ipvs` counts real servers; `checks` is 1 when all its checks pass, else 0; `both` is the IPVS
 * count when all its checks pass, else 0. Several services: the weakest. Unknown (IPVS not
 * read or not believed for an ipvs/both service, a check not run yet with none failed) is null.
 */
export function vipLive(services: readonly Pick<ServiceConfig, 'name' | 'live_from' | 'checks'>[], ipvsLive: number | null, results: CheckResults): VipLive {
  const list = services.length > 0 ? services : [{ name: '', live_from: 'ipvs' as const, checks: [] }];
  const failing: string[] = [];
  let live: number | null = Number.POSITIVE_INFINITY;
  let unknown = false;
  let usesIpvs = false;
  let usesChecks = false;
  for (const s of list) {
    let v: number | null;
    // a config built without the schema's defaults (tests, callers with partial configs) is ipvs
    const from = s.live_from ?? 'ipvs';
    if (from === 'ipvs') {
      usesIpvs = true;
      v = ipvsLive;
    } else {
      usesChecks = true;
      if (from === 'both') usesIpvs = true;
      const c = checksVerdict(s, results);
      failing.push(...c.failing);
      // `both` freezes with an unreadable or doubted table, as an ipvs service does (fail static)
      if (from === 'both' && ipvsLive === null) v = null;
      else if (c.pass === false) v = 0;
      else if (c.pass === null) v = null;
      else v = from === 'checks' ? 1 : ipvsLive;
    }
    if (v === null) unknown = true;
    else live = Math.min(live, v);
  }
  if (unknown) live = null; // fail static: one claimant not known changes nothing for the VIP
  return { live, ipvs: usesIpvs ? ipvsLive : null, usesIpvs, usesChecks, failing };
}

/** The start of a watchdog change line: what was counted behind VIP. */
export function liveText(address: string, v: VipLive): string {
  const checks = v.failing.length > 0 ? `failing check${v.failing.length > 1 ? 's' : ''} ${v.failing.join('; ')}` : 'checks passing';
  if (!v.usesChecks) return `${v.live ?? 0} realservers available behind ${address}`;
  if (!v.usesIpvs) return `${address}: ${checks}`;
  return `${v.ipvs ?? '?'} realservers available behind ${address}, ${checks}`;
}
