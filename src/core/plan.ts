// Pure planning for add/delete: which VIPs a run targets, with which route-map, what must change, and did it.
import { VipError } from './errors.js';
import { compareVips, insideAny, toVip } from './prefix.js';
import type { PrefixState, ResolvedName, RunningBgp, SpeakerChange, Vip } from './types.js';
import type { Config } from '../config/load.js';

export const routeMapName = (rank: number): string => `VIP-RANK-${rank}`;

export interface Target {
  vip: Vip;
  names: string[];
  rank: number;
  routeMap: string;
}

export type Action = 'add' | 'delete' | 'none';

export interface PlannedChange {
  vip: Vip;
  names: string[];
  action: Action;
  /** the route-map announced with (add/none) or the one configured (delete) */
  routeMap: string | null;
  reason: string;
}

/** A name as the config keys services (schema.ts lower-cases them and drops a trailing dot). */
export const serviceKey = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** Rank of DC in SERVICE's prefer list: rank 0 when no service lists the name (a literal address,
 *  an unlisted name); null when the service does not include DC. */
export function rankIn(service: { prefer: string[] } | undefined, dc: string): number | null {
  if (!service) return 0;
  const r = service.prefer.indexOf(dc);
  return r < 0 ? null : r;
}

/** Rank of this host's DC for NAME (see rankIn). */
export function rankFor(config: Pick<Config, 'dc' | 'services'>, name: string): number | null {
  const key = serviceKey(name);
  return rankIn(config.services.find((s) => s.name === key), config.dc);
}

/**
 * The VIPs of resolved names, each with its route-map, after the safety policy: every address
 * inside vip_prefixes, this DC among the service's preferred DCs, one rank per VIP.
 */
export function targetsFor(
  config: Pick<Config, 'dc' | 'services' | 'vip_prefixes'>,
  resolved: ResolvedName[],
): { targets: Target[]; errors: VipError[] } {
  const byPrefix = new Map<string, Target>();
  const errors: VipError[] = [];
  for (const r of resolved) {
    const rank = rankFor(config, r.name);
    if (rank === null) {
      errors.push(
        new VipError('VIP_E_POLICY_DC', `${r.name}: this DC (${config.dc}) is not in the service's prefer list, so it never announces it; add it to services[].prefer first`, {
          name: r.name,
        }),
      );
      continue;
    }
    for (const a of r.addresses) {
      const vip = toVip(a);
      if (!insideAny(vip, config.vip_prefixes)) {
        errors.push(
          new VipError('VIP_E_POLICY_PREFIX', `${r.name} resolves to ${vip.address}, which is outside vip_prefixes (${config.vip_prefixes.join(', ')}); refusing to touch it`, {
            vip: vip.address,
            name: r.name,
          }),
        );
        continue;
      }
      const seen = byPrefix.get(vip.prefix);
      if (!seen) {
        byPrefix.set(vip.prefix, { vip, names: [r.name], rank, routeMap: routeMapName(rank) });
      } else if (seen.rank !== rank) {
        errors.push(
          new VipError('VIP_E_POLICY_CONFLICT', `${vip.address} belongs to ${seen.names.join(', ')} (rank ${seen.rank}) and ${r.name} (rank ${rank}); fix the services' prefer lists`, {
            vip: vip.address,
          }),
        );
      } else if (!seen.names.includes(r.name)) seen.names.push(r.name);
    }
  }
  const targets = [...byPrefix.values()].sort((a, b) => compareVips(a.vip, b.vip));
  return { targets, errors };
}

function configuredOf(running: RunningBgp): Map<string, string | null> {
  return new Map(running.networks.map((n) => [n.prefix, n.routeMap]));
}

export function planAdd(targets: Target[], running: RunningBgp): PlannedChange[] {
  const conf = configuredOf(running);
  return targets.map((t) => {
    const base = { vip: t.vip, names: t.names, routeMap: t.routeMap };
    if (!conf.has(t.vip.prefix)) return { ...base, action: 'add', reason: `announce with route-map ${t.routeMap}` };
    const have = conf.get(t.vip.prefix) ?? null;
    if (have === t.routeMap) return { ...base, action: 'none', reason: 'already announced' };
    return { ...base, action: 'add', reason: `route-map ${have ?? '(none)'} -> ${t.routeMap}` };
  });
}

export function planDelete(targets: Target[], running: RunningBgp, reason: string): PlannedChange[] {
  const conf = configuredOf(running);
  return targets.map((t) => {
    const base = { vip: t.vip, names: t.names };
    if (!conf.has(t.vip.prefix)) return { ...base, action: 'none', routeMap: null, reason: 'not announced' };
    return { ...base, action: 'delete', routeMap: conf.get(t.vip.prefix) ?? null, reason };
  });
}

export function speakerChanges(plan: PlannedChange[]): SpeakerChange[] {
  return plan
    .filter((c): c is PlannedChange & { action: 'add' | 'delete' } => c.action !== 'none')
    .map((c) => ({ action: c.action, prefix: c.vip.prefix, routeMap: c.routeMap }));
}

/** Route-maps the plan announces with that the running config does not define (FRR would
 *  silently drop such a network statement). */
export function missingRouteMaps(plan: PlannedChange[], running: RunningBgp): string[] {
  const have = new Set(running.routeMaps);
  const want = new Set(plan.filter((c) => c.action !== 'delete' && c.routeMap).map((c) => c.routeMap as string));
  return [...want].filter((m) => !have.has(m)).sort();
}

export interface Verdict {
  verified: boolean;
  problem?: string;
}

/** Does the read-back running config and BGP table show what the change intended?
 *  `intent` is the end state wanted: announced (add) or withdrawn (delete). */
export function verify(intent: 'add' | 'delete', change: PlannedChange, running: RunningBgp, table: PrefixState | undefined): Verdict {
  const conf = configuredOf(running);
  const p = change.vip.prefix;
  if (intent === 'delete') {
    if (conf.has(p)) return { verified: false, problem: `${p} is still configured after the withdraw` };
    if (table?.inTable) return { verified: false, problem: `${p} is still in the BGP table` };
    return { verified: true };
  }
  if (!conf.has(p)) return { verified: false, problem: `${p} is not in the running config after the change` };
  const rm = conf.get(p) ?? null;
  if (rm !== change.routeMap) return { verified: false, problem: `${p} is configured with route-map ${rm ?? '(none)'}, not ${change.routeMap}` };
  // FRR's import check keeps a network whose prefix is not in the RIB out of the table (older
  // releases) or in it as invalid (8.x): either way the VIP is missing from a local interface.
  if (!table?.inTable || !table.valid) {
    return { verified: false, problem: `${p} is configured but not in BGP table: is the VIP on a local interface?` };
  }
  return { verified: true };
}
