// The ONE rule of which VIPs a DC announces, at which rank and thresholds, and why others are left out (SPEC "Trusting inputs").
//
// Every command asks this file: add/delete (targetsFor), the watchdog cycle, render, doctor and
// status. Before it existed the rule lived in five places with five ways of handling conflicts,
// and three safety bugs came from the copies disagreeing. Rules, in order:
// - a VIP outside vip_prefixes is never announced or withdrawn, whatever DNS says;
// - a VIP claimed by configured services is announced here only when every service claiming it
//   lists this DC in `prefer` at the SAME rank; otherwise it is excluded (never announced here),
//   a conflict being reported — whatever order DNS answers arrived in (services are taken in
//   config order, never in answer order);
// - `discover` adds the IPVS VIPs inside vip_prefixes that no configured service claims, at rank 0;
// - a literal address or an unlisted name keeps the rank of the service that claims its address,
//   rank 0 only when no service claims it.
import { VipError, type ErrorCode } from './errors.js';
import { insideAny, sortByVip, toVip } from './prefix.js';
import type { ResolvedName, Speaker, SpeakerChange, Vip } from './types.js';
import type { Config } from '../config/load.js';

export const routeMapName = (rank: number): string => `VIP-RANK-${rank}`;

/** The route-map of a graceful drain and of a demoted VIP (RFC 8326 GRACEFUL_SHUTDOWN, longest path). */
export const DRAIN_ROUTE_MAP = 'VIP-DRAIN';

/** How often VIP-DRAIN prepends the local AS: more than any rank of any DC does (a rank is at most
 *  the number of DCs minus one), so a drained path loses to every other DC's even where a router
 *  ignores the community. */
export const drainPrepends = (base: number, datacenters: number): number => base + Math.max(1, datacenters);

/** What decides a route-map's AS path: prepend.base and how many DCs the config lists. */
export interface PrependRule {
  base: number;
  datacenters: number;
}

/**
 * How often a route-map prepends the local AS: VIP-RANK-<r> base + r times, VIP-DRAIN
 * drainPrepends; null for a name this tool never announces with. render emits FRR route-maps from
 * it, and the speakers that take an AS path per route (ExaBGP, GoBGP) build that path from it, so
 * a rank's path is as long whichever speaker announces it.
 */
export function prependsOf(routeMap: string, rule: PrependRule): number | null {
  if (routeMap === DRAIN_ROUTE_MAP) return drainPrepends(rule.base, rule.datacenters);
  const m = /^VIP-RANK-(0|[1-9]\d{0,3})$/.exec(routeMap);
  return m ? rule.base + Number(m[1]) : null;
}

/** The prepend rule of a config: prepend.base and how many DCs it lists (deps, render and doctor
 *  take it from here). */
export function prependRuleOf(config: Pick<Config, 'prepend' | 'datacenters'>): PrependRule {
  return { base: config.prepend.base, datacenters: Object.keys(config.datacenters).length };
}

/** The route-map whose prepend count is COUNT (prependsOf backwards), null when none is. */
export function routeMapOfPrepends(count: number, rule: PrependRule): string | null {
  if (count === drainPrepends(rule.base, rule.datacenters)) return DRAIN_ROUTE_MAP;
  const rank = count - rule.base;
  return rank >= 0 && rank < Math.max(1, rule.datacenters) ? routeMapName(rank) : null;
}

/** The route-maps a speaker that computes AS paths itself always has: every rank a DC of this
 *  config can hold, and VIP-DRAIN. */
export function computedRouteMaps(rule: PrependRule): string[] {
  return [...Array.from({ length: Math.max(1, rule.datacenters) }, (_, r) => routeMapName(r)), DRAIN_ROUTE_MAP];
}

/** A name as the config keys services (schema.ts lower-cases them and drops a trailing dot). */
export const serviceKey = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export interface Thresholds {
  min: number; // withdraw when live < min
  restore: number; // restore when live >= restore
}

export type TargetSource = 'service' | 'discover' | 'literal';

/** A VIP this DC announces. */
export interface Target {
  vip: Vip;
  /** the configured services claiming it (config order); for a literal, the names asked */
  names: string[];
  rank: number;
  routeMap: string;
  thresholds: Thresholds;
  source: TargetSource;
}

/** A VIP some service claims that this DC must not announce, and why. */
export interface Exclusion {
  vip: Vip;
  names: string[];
  code: ErrorCode;
  why: string;
}

export interface DcPolicy {
  dc: string;
  /** prefix -> what this DC announces */
  targets: Map<string, Target>;
  /** prefix -> claimed but not announced here */
  excluded: Map<string, Exclusion>;
  /** conflicts and addresses outside vip_prefixes, once each */
  errors: VipError[];
  /** services whose answer is not known (no answer, no cache): their VIPs cannot be placed */
  unresolved: string[];
}

/** watchdog is needed only with discovered VIPs (their thresholds) */
type PolicyConfig = Pick<Config, 'services' | 'vip_prefixes'> & { watchdog?: Pick<Config['watchdog'], 'min_realservers' | 'restore_realservers'> };
type ServiceConfig = Config['services'][number];

/** Rank of DC in a service's prefer list, null when the service leaves DC out. */
export function rankOf(service: Pick<ServiceConfig, 'prefer'>, dc: string): number | null {
  const r = service.prefer.indexOf(dc);
  return r < 0 ? null : r;
}

/** A service's own thresholds: watchdog-wide values are for discovered VIPs only. */
export function serviceThresholds(s: Pick<ServiceConfig, 'min_realservers' | 'restore_realservers'>): Thresholds {
  return { min: s.min_realservers, restore: s.restore_realservers ?? s.min_realservers };
}

export function discoverThresholds(wd: Pick<Config['watchdog'], 'min_realservers' | 'restore_realservers'>): Thresholds {
  return { min: wd.min_realservers, restore: Math.max(wd.min_realservers, wd.restore_realservers ?? wd.min_realservers) };
}

/**
 * The policy of DC: `resolved` holds the configured services' answers (any order, any subset: a
 * service missing from it is reported in `unresolved`); `discovered` the IPVS VIP addresses when
 * watchdog.discover is on.
 */
export function dcPolicy(config: PolicyConfig, dc: string, resolved: readonly ResolvedName[], discovered: readonly string[] = []): DcPolicy {
  const answers = new Map(resolved.map((r) => [serviceKey(r.name), r]));
  const errors: VipError[] = [];
  const unresolved: string[] = [];
  const outside = new Set<string>();
  // prefix -> the claims on it, in config order
  const claims = new Map<string, { vip: Vip; claims: { service: ServiceConfig; rank: number | null }[] }>();

  for (const s of config.services) {
    const r = answers.get(s.name);
    if (!r) {
      unresolved.push(s.name);
      continue;
    }
    for (const a of r.addresses) {
      const vip = toVip(a);
      if (!insideAny(vip, config.vip_prefixes)) {
        if (!outside.has(`${s.name} ${vip.prefix}`)) {
          outside.add(`${s.name} ${vip.prefix}`);
          errors.push(
            new VipError('VIP_E_POLICY_PREFIX', `${s.name} resolves to ${vip.address}, which is outside vip_prefixes (${config.vip_prefixes.join(', ')}); refusing to touch it`, {
              vip: vip.address,
              name: s.name,
            }),
          );
        }
        continue;
      }
      const c = claims.get(vip.prefix) ?? { vip, claims: [] };
      if (!c.claims.some((x) => x.service === s)) c.claims.push({ service: s, rank: rankOf(s, dc) });
      claims.set(vip.prefix, c);
    }
  }

  const targets = new Map<string, Target>();
  const excluded = new Map<string, Exclusion>();
  for (const [prefix, { vip, claims: list }] of claims) {
    const names = list.map((c) => c.service.name);
    const ranks = new Set(list.map((c) => c.rank));
    if (ranks.size === 1 && list[0]!.rank !== null) {
      const rank = list[0]!.rank;
      const all = list.map((c) => serviceThresholds(c.service));
      // a VIP of several services takes the strictest thresholds
      const thresholds = { min: Math.max(...all.map((t) => t.min)), restore: Math.max(...all.map((t) => t.restore)) };
      targets.set(prefix, { vip, names, rank, routeMap: routeMapName(rank), thresholds, source: 'service' });
    } else if (ranks.size === 1) {
      excluded.set(prefix, {
        vip,
        names,
        code: 'VIP_E_POLICY_DC',
        why: `${names.join(', ')} ${names.length > 1 ? 'leave' : 'leaves'} dc ${dc} out of prefer, so ${dc} never announces ${vip.address}`,
      });
    } else {
      const parts = list.map((c) => `${c.service.name} (${c.rank === null ? `not in prefer` : `rank ${c.rank}`})`).join(', ');
      const ex: Exclusion = {
        vip,
        names,
        code: 'VIP_E_POLICY_CONFLICT',
        why: `${vip.address} is claimed by ${parts} in dc ${dc}; a VIP has one rank per DC, so it is not announced here until the services' prefer lists agree`,
      };
      excluded.set(prefix, ex);
      errors.push(new VipError(ex.code, ex.why, { vip: vip.address }));
    }
  }

  const thresholds = discovered.length > 0 && config.watchdog ? discoverThresholds(config.watchdog) : { min: 1, restore: 1 };
  for (const a of discovered) {
    const vip = toVip(a);
    if (claims.has(vip.prefix) || targets.has(vip.prefix) || !insideAny(vip, config.vip_prefixes)) continue;
    targets.set(vip.prefix, { vip, names: [], rank: 0, routeMap: routeMapName(0), thresholds, source: 'discover' });
  }
  return { dc, targets, excluded, errors, unresolved };
}

/** Targets in canonical VIP order (IPv4 first, numerically). */
export function sortedTargets(policy: DcPolicy): Target[] {
  return sortByVip([...policy.targets.values()], (t) => t.vip);
}

/**
 * The targets of the names an operator asked for (-a/-d): a configured service gives its own
 * VIPs; a literal address or an unlisted name gives its addresses at the rank of the service that
 * claims them (rank 0 when none does). Adding needs every service's answer to know that rank.
 */
export function targetsFor(
  config: Pick<Config, 'services' | 'vip_prefixes'>,
  policy: DcPolicy,
  asked: readonly ResolvedName[],
  intent: 'add' | 'delete',
): { targets: Target[]; errors: VipError[] } {
  const services = new Map(config.services.map((s) => [s.name, s]));
  const out = new Map<string, Target>();
  const errors: VipError[] = [];
  const dc = policy.dc;
  for (const r of asked) {
    const key = serviceKey(r.name);
    const service = services.get(key);
    if (service && rankOf(service, dc) === null) {
      errors.push(
        new VipError('VIP_E_POLICY_DC', `${key}: this DC (${dc}) is not in the service's prefer list, so it never announces it; add it to services[].prefer first`, {
          name: key,
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
      const ex = policy.excluded.get(vip.prefix);
      if (ex) {
        errors.push(new VipError(ex.code, `${r.name}: ${ex.why}`, { vip: vip.address, name: r.name }));
        continue;
      }
      let t = policy.targets.get(vip.prefix);
      if (!t || t.source === 'discover') {
        if (intent === 'add' && policy.unresolved.length > 0) {
          errors.push(
            new VipError(
              'VIP_E_DNS_TIMEOUT',
              `${r.name}: cannot tell which service ${vip.address} belongs to (its rank) while ${policy.unresolved.join(', ')} did not resolve; try again when DNS answers`,
              { vip: vip.address, name: r.name },
            ),
          );
          continue;
        }
        t = { vip, names: [], rank: 0, routeMap: routeMapName(0), thresholds: { min: 0, restore: 0 }, source: 'literal' };
      }
      const seen = out.get(vip.prefix);
      const name = service ? key : r.name;
      if (seen) {
        if (!seen.names.includes(name)) seen.names.push(name);
      } else out.set(vip.prefix, { ...t, names: service ? [key] : t.source === 'literal' ? [name] : [...t.names] });
    }
  }
  return { targets: sortByVip([...out.values()], (t) => t.vip), errors };
}

/** Speaker-boundary re-check: the changes that would touch an address outside vip_prefixes. */
export function outsidePrefixes(changes: readonly SpeakerChange[], vipPrefixes: readonly string[]): SpeakerChange[] {
  return changes.filter((c) => !hostPrefixInside(c.prefix, vipPrefixes));
}

/** Is PREFIX a canonical host prefix (192.0.2.1/32, 2001:db8::1/128) inside vip_prefixes? */
export function hostPrefixInside(prefix: string, vipPrefixes: readonly string[]): boolean {
  const [addr, len] = prefix.split('/');
  try {
    const vip = toVip(addr!);
    return vip.prefix === `${vip.address}/${len}` && insideAny(vip, vipPrefixes);
  } catch {
    return false;
  }
}

/**
 * The speaker as commands see it: apply() refuses (VIP_E_POLICY_PREFIX, nothing sent) a batch with
 * any change outside vip_prefixes, whatever computed it. Everything else passes through.
 */
export function guardSpeaker<S extends Speaker>(speaker: S, vipPrefixes: readonly string[]): S {
  const guarded = Object.create(speaker) as S;
  guarded.apply = async (asn, changes) => {
    const bad = outsidePrefixes(changes, vipPrefixes);
    if (bad.length > 0) {
      throw new VipError('VIP_E_POLICY_PREFIX', `refusing to send ${bad.map((c) => `${c.action} ${c.prefix}`).join(', ')} to the speaker: outside vip_prefixes (${vipPrefixes.join(', ')})`, {
        vip: bad[0]!.prefix.split('/')[0],
      });
    }
    return speaker.apply(asn, changes);
  };
  return guarded;
}
