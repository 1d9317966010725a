// Pure part of the GoBGP 3 speaker: the gobgp CLI argv of each change, and its JSON answers (`global -j`, `global rib -a AFI -j`, `neighbor -j`) read into the Speaker contract's shapes.
//
// Facts from GoBGP 3.10.0 in the lab (test/lab/speakers/gobgp.ts), 2026-12-02:
// - GoBGP prepends its own AS to the aspath a route is added with when it sends it over eBGP: the
//   FRR router saw 64512 64512 for `aspath 64512` and 64512 for none. So a route-map that prepends
//   n times is `aspath` of the local AS n times here (none for n = 0), from policy.ts prependsOf.
// - `global rib add -a ipv4 P origin igp nexthop 0.0.0.0`: GoBGP sets itself as next hop towards
//   eBGP peers (the router saw the route valid); `::` for IPv6. origin igp as FRR's `network` has.
// - `global rib del` of a route GoBGP does not have exits 0.
// - With gobgpd gone: `{"error":"context deadline exceeded"}` (or a connection refused), exit 1,
//   after ~1 s.
// - `global rib -j`: {"P": [{"nlri", "best", "attrs": [{type 2 "as_paths": [{"asns": [...]}]},
//   {type 8 "communities": [4294901760 = 65535:0]}, ...], "neighbor_ip"? ...}]}; a path learned
//   from a peer names it (neighbor_ip / source_id), a locally added one does not.
import { prependsOf, routeMapOfPrepends, DRAIN_ROUTE_MAP, type PrependRule } from './policy.js';
import { normalisePrefix } from './prefix.js';
import type { BgpNeighbor } from './doctor.js';
import type { PrefixState, RunningBgp, SpeakerChange } from './types.js';

/** RFC 8326 GRACEFUL_SHUTDOWN as GoBGP prints it in JSON (65535 << 16). */
const GSHUT = 65535 * 65536;

export interface GobgpRoute {
  prefix: string;
  family: 4 | 6;
  asPath: number[];
  communities: number[];
}

const familyOf = (prefix: string): 4 | 6 => (prefix.includes(':') ? 6 : 4);
const afi = (f: 4 | 6) => (f === 4 ? 'ipv4' : 'ipv6');

/** The aspath GoBGP must be given for ROUTEMAP: the local AS prependsOf times (GoBGP adds its own). */
export function gobgpAsPath(asn: number, routeMap: string | null, rule: PrependRule): number[] | null {
  const n = routeMap === null ? null : prependsOf(routeMap, rule);
  return n === null ? null : Array<number>(n).fill(asn);
}

/** The gobgp argv (after the API options) of one change. Throws TypeError for an add whose
 *  route-map has no path (the policy never plans one). */
export function gobgpChangeArgv(asn: number, c: SpeakerChange, rule: PrependRule): string[] {
  const f = familyOf(c.prefix);
  if (c.action === 'delete') return ['global', 'rib', 'del', '-a', afi(f), c.prefix];
  const path = gobgpAsPath(asn, c.routeMap, rule);
  if (!path) throw new TypeError(`no AS path for route-map ${c.routeMap ?? '(none)'}`);
  return [
    'global', 'rib', 'add', '-a', afi(f), c.prefix,
    'origin', 'igp',
    'nexthop', f === 4 ? '0.0.0.0' : '::',
    ...(path.length > 0 ? ['aspath', path.join(',')] : []),
    ...(c.routeMap === DRAIN_ROUTE_MAP ? ['community', '65535:0'] : []),
  ];
}

/** One change as a GoBGP API path (apipb.Path, the fields vip-mgmt sets): what `gobgpChangeArgv`
 *  asks the CLI for, so a route looks the same whichever way it went in. A withdrawal carries the
 *  next hop too (gobgpd 3.10 refuses a path without one unless it is marked withdrawn). */
export interface GobgpApiPath {
  family: 4 | 6;
  address: string;
  length: number;
  /** ORIGIN igp, NEXT_HOP 0.0.0.0 (IPv4) or MP_REACH with :: (IPv6), as the CLI's `origin igp nexthop` */
  nextHop: '0.0.0.0' | '::';
  asPath: number[];
  communities: number[];
  withdraw: boolean;
}

export function gobgpApiPath(asn: number, c: SpeakerChange, rule: PrependRule): GobgpApiPath {
  const f = familyOf(c.prefix);
  const [address, len] = c.prefix.split('/');
  const base = { family: f, address: address!, length: Number(len), nextHop: f === 4 ? ('0.0.0.0' as const) : ('::' as const) };
  if (c.action === 'delete') return { ...base, asPath: [], communities: [], withdraw: true };
  const path = gobgpAsPath(asn, c.routeMap, rule);
  if (!path) throw new TypeError(`no AS path for route-map ${c.routeMap ?? '(none)'}`);
  return { ...base, asPath: path, communities: c.routeMap === DRAIN_ROUTE_MAP ? [GSHUT] : [], withdraw: false };
}

/** `gobgp global rib -a AFI -j` -> the locally originated routes (paths learned from a peer are left out). */
export function parseGlobalRib(text: string): GobgpRoute[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'null') return [];
  const doc = JSON.parse(trimmed) as Record<string, unknown>;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new TypeError('global rib: not a JSON object');
  const out: GobgpRoute[] = [];
  for (const [key, paths] of Object.entries(doc)) {
    const prefix = normalisePrefix(key);
    if (!prefix || !Array.isArray(paths)) continue;
    const local = paths.find((p: Record<string, unknown>) => !p['neighbor-ip'] && !p.neighbor_ip && !p['source-id'] && !p.source_id && !p.withdrawal);
    if (!local) continue;
    const attrs = Array.isArray(local.attrs) ? (local.attrs as Record<string, unknown>[]) : [];
    const asPath = attrs
      .filter((a) => a.type === 2)
      .flatMap((a) => (Array.isArray(a.as_paths) ? (a.as_paths as { asns?: number[] }[]) : []))
      .flatMap((seg) => seg.asns ?? []);
    const communities = attrs.filter((a) => a.type === 8).flatMap((a) => (Array.isArray(a.communities) ? (a.communities as number[]) : []));
    out.push({ prefix, family: familyOf(prefix), asPath, communities });
  }
  return out;
}

/** `gobgp global -j` -> the local AS. */
export function parseGlobal(text: string): number | null {
  const doc = JSON.parse(text) as { asn?: unknown };
  return typeof doc?.asn === 'number' && doc.asn > 0 ? doc.asn : null;
}

/** The route-map a route's aspath stands for: all local AS, prependsOf long; null otherwise. */
export function routeMapOfGobgpPath(asn: number, asPath: readonly number[], rule: PrependRule): string | null {
  if (asPath.some((a) => a !== asn)) return null;
  return routeMapOfPrepends(asPath.length, rule);
}

export function runningFromGobgp(routes: readonly GobgpRoute[], asn: number | null, rule: PrependRule, routeMaps: string[], text: string): RunningBgp {
  return {
    asn,
    networks: routes.map((r) => ({ prefix: r.prefix, routeMap: asn === null ? null : routeMapOfGobgpPath(asn, r.asPath, rule) })),
    routeMaps,
    text,
  };
}

/** GoBGP's session states (api.PeerState_SessionState) by number. */
const SESSION: Record<number, string> = { 1: 'Idle', 2: 'Connect', 3: 'Active', 4: 'OpenSent', 5: 'OpenConfirm', 6: 'Established' };
const SESSION_NAMES: Record<string, string> = { idle: 'Idle', connect: 'Connect', active: 'Active', opensent: 'OpenSent', openconfirm: 'OpenConfirm', established: 'Established' };

/** `gobgp neighbor -j` -> neighbors and their sessions. */
export function parseNeighbors(text: string): BgpNeighbor[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'null') return [];
  const doc = JSON.parse(trimmed) as unknown;
  if (!Array.isArray(doc)) throw new TypeError('neighbor: not a JSON array');
  return doc.map((n: Record<string, any>) => {
    const raw = n.state?.session_state;
    const state = typeof raw === 'number' ? (SESSION[raw] ?? `state ${raw}`) : typeof raw === 'string' ? (SESSION_NAMES[raw.toLowerCase()] ?? raw) : 'unknown';
    const families = (Array.isArray(n.afi_safis) ? n.afi_safis : [])
      .filter((a: any) => a?.config?.enabled !== false)
      .map((a: any) => `${a?.config?.family?.afi === 2 ? 'ipv6' : 'ipv4'}${a?.config?.family?.safi === 1 || a?.config?.family?.safi === undefined ? 'Unicast' : `Safi${a.config.family.safi}`}`);
    return {
      peer: String(n.conf?.neighbor_address ?? n.state?.neighbor_address ?? '?'),
      remoteAs: typeof n.conf?.peer_asn === 'number' ? n.conf.peer_asn : null,
      hostname: null,
      state,
      upDown: null,
      families,
      prefixesReceived: null,
    };
  });
}

/** PrefixState per asked prefix: GoBGP's global rib holds it (valid, best: GoBGP picks no other path
 *  over its own), advertised to the established neighbors of its family. */
export function gobgpPrefixStates(routes: readonly GobgpRoute[], prefixes: readonly string[], neighbors: readonly BgpNeighbor[] | null): Map<string, PrefixState> {
  const have = new Set(routes.map((r) => r.prefix));
  const up = (f: 4 | 6) => (neighbors ?? []).filter((n) => n.state === 'Established' && n.families.includes(`${afi(f)}Unicast`)).length;
  const out = new Map<string, PrefixState>();
  for (const p of prefixes) {
    const inTable = have.has(p);
    out.set(p, { prefix: p, inTable, valid: inTable, best: inTable, advertisedTo: inTable ? up(familyOf(p)) : 0 });
  }
  return out;
}

/** Does a failed gobgp run mean gobgpd is unreachable (exit 6), or that it refused the command? */
export function gobgpUnreachable(output: string): boolean {
  return /deadline exceeded|connection refused|no such file or directory|Unavailable|error reading server preface|connect: |transport: /i.test(output);
}

export { GSHUT as GOBGP_GSHUT };
