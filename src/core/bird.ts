// Pure part of the BIRD 2 speaker: the include file vip-mgmt owns (generated and read back), and birdc's answers (`show route`, `show protocols all`) read into the Speaker contract's shapes.
//
// The include file (bgp.bird.include) holds, for every route-map this config can announce with
// (policy.ts computedRouteMaps: VIP-RANK-0..n-1 and VIP-DRAIN) and both families, one static
// protocol `vip_mgmt_<rank0|drain>_<v4|v6>` whose routes are the VIPs announced with that route-map
// (`route 192.0.2.21/32 blackhole;`), and the filter `vip_mgmt_export` that the operator's BGP
// protocols export with: it accepts the routes of those protocols only, prepending the local AS
// prependsOf(route-map) times (the same AS-path length at the router as FRR's route-map gives;
// VIP-DRAIN also adds the GRACEFUL_SHUTDOWN community 65535:0, as FRR's VIP-DRAIN does) and rejects
// everything else. Every protocol is always there, even empty: adding or removing a VIP changes
// only a protocol's routes, so `birdc configure` restarts none and no session flaps.
//
// Why one protocol per route-map and not `if net = P` per VIP in the filter: the route-map of a
// route BIRD runs is then the name of the protocol that holds it, which `birdc show route` prints.
// readRunning reads BIRD (what it runs), not the include (what vip-mgmt last wrote): they differ
// when a configure failed or someone edited the file.
//
// Facts from BIRD 2.0.12 in the lab (test/lab/speakers/bird.ts), 2026-12-02:
// - `birdc -v` prefixes every reply with a 4-digit code ("1007-" first line, 5 spaces after):
//   0003 Reconfigured, 0004 in progress, 8xxx/9xxx errors ("8002 FILE:LINE:COL syntax error ...").
//   birdc exits 1 for an error reply and when the socket cannot be reached ("Unable to connect to
//   server control socket (PATH): No such file or directory").
// - A rejected `configure` leaves the previous configuration running.
// - BIRD prepends its own AS on eBGP export, like FRR: `bgp_path.prepend(AS)` once gives AS AS.
// - A blackhole static route is exported over eBGP with BIRD itself as next hop.
import { computedRouteMaps, prependsOf, routeMapName, routeMapOfPrepends, DRAIN_ROUTE_MAP, type PrependRule } from './policy.js';
import { normalisePrefix } from './prefix.js';
import type { BgpNeighbor } from './doctor.js';
import type { BgpNetwork, PrefixState, RunningBgp, SpeakerChange } from './types.js';
import type { RenderDifference } from './render.js';

export const BIRD_FILTER = 'vip_mgmt_export';
const PROTO_PREFIX = 'vip_mgmt_';
const HEADER = '# vip-mgmt: BIRD 2 include (bgp.bird.include). Written by vip-mgmt, which reads it back: do not edit.';

type Family = 4 | 6;
const familyOf = (prefix: string): Family => (prefix.includes(':') ? 6 : 4);

/** The static protocol holding ROUTEMAP's routes of FAMILY; null for a name vip-mgmt never announces with. */
export function birdProtocolOf(routeMap: string, family: Family): string | null {
  const part = routeMap === DRAIN_ROUTE_MAP ? 'drain' : /^VIP-RANK-(0|[1-9]\d{0,3})$/.exec(routeMap)?.[1];
  return part === undefined ? null : `${PROTO_PREFIX}${part === 'drain' ? 'drain' : `rank${part}`}_v${family}`;
}

/** birdProtocolOf backwards: the route-map a vip-mgmt static protocol stands for, null for any other protocol. */
export function routeMapOfBirdProtocol(proto: string): string | null {
  const m = /^vip_mgmt_(?:rank(0|[1-9]\d{0,3})|(drain))_v[46]$/.exec(proto);
  if (!m) return null;
  return m[2] ? DRAIN_ROUTE_MAP : routeMapName(Number(m[1]));
}

/** The route-maps the include always has a protocol for: every rank of the config and VIP-DRAIN. */
const includeRouteMaps = computedRouteMaps;

/** prefix -> route-map: the VIPs an include announces. */
export type BirdRoutes = Map<string, string>;

/** The include file for ROUTES (prefix -> route-map) of local AS ASN. Throws TypeError for a route-map
 *  without a prepend count (the policy never plans one). */
export function birdInclude(asn: number, routes: ReadonlyMap<string, string>, rule: PrependRule, comments: readonly string[] = []): string {
  const maps = includeRouteMaps(rule);
  for (const rm of new Set(routes.values())) {
    if (prependsOf(rm, rule) === null) throw new TypeError(`no AS path for route-map ${rm}`);
    if (!maps.includes(rm)) maps.push(rm);
  }
  const byProto = new Map<string, string[]>();
  for (const [prefix, rm] of routes) {
    const proto = birdProtocolOf(rm, familyOf(prefix))!;
    (byProto.get(proto) ?? byProto.set(proto, []).get(proto)!).push(prefix);
  }
  const lines = [HEADER, `# local AS ${asn}; prepends per route-map from prepend.base ${rule.base} and ${rule.datacenters} datacenters (vip-mgmt render prints this file)`, ...comments.map((c) => `# ${c.replace(/[\u0000-\u001f\u007f]/g, '?')}`), ''];
  for (const rm of maps) {
    for (const f of [4, 6] as const) {
      const proto = birdProtocolOf(rm, f)!;
      const prefixes = (byProto.get(proto) ?? []).sort(comparePrefixes);
      lines.push(`protocol static ${proto} {  # ${rm}`, `  ipv${f};`, ...prefixes.map((p) => `  route ${p} blackhole;`), '}');
    }
  }
  lines.push('', `filter ${BIRD_FILTER} {`);
  for (const rm of maps) {
    const n = prependsOf(rm, rule)!;
    const actions = [
      ...Array<string>(n).fill(`bgp_path.prepend(${asn});`),
      ...(rm === DRAIN_ROUTE_MAP ? ['bgp_community.add((65535,0));'] : []),
      'accept;',
    ];
    lines.push(`  if proto = "${birdProtocolOf(rm, 4)}" || proto = "${birdProtocolOf(rm, 6)}" then { ${actions.join(' ')} }  # ${rm}`);
  }
  lines.push('  reject;', '}', '');
  return lines.join('\n');
}

function comparePrefixes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An include file as birdInclude writes it -> its routes (prefix -> route-map). Lines it does not know are skipped. */
export function parseBirdInclude(text: string): BirdRoutes {
  const out: BirdRoutes = new Map();
  let routeMap: string | null = null;
  for (const line of text.split('\n')) {
    const open = /^\s*protocol\s+static\s+(\w+)\s*\{/.exec(line);
    if (open) {
      routeMap = routeMapOfBirdProtocol(open[1]!);
      continue;
    }
    if (/^\s*\}/.test(line)) {
      routeMap = null;
      continue;
    }
    const route = /^\s*route\s+(\S+)\s+(?:blackhole|unreachable|prohibit)\s*;/.exec(line);
    if (route && routeMap) {
      const p = normalisePrefix(route[1]!);
      if (p) out.set(p, routeMap);
    }
  }
  return out;
}

/** ROUTES with CHANGES applied (a delete removes the prefix whatever its route-map, an add sets it). */
export function applyBirdChanges(routes: ReadonlyMap<string, string>, changes: readonly SpeakerChange[]): BirdRoutes {
  const out: BirdRoutes = new Map(routes);
  for (const c of changes) {
    const p = normalisePrefix(c.prefix);
    if (!p) throw new TypeError(`not a prefix: ${c.prefix}`);
    if (c.action === 'delete') out.delete(p);
    else {
      if (c.routeMap === null) throw new TypeError(`add of ${p} without a route-map`);
      out.set(p, c.routeMap);
    }
  }
  return out;
}

// ---- birdc answers --------------------------------------------------------------------------------

export interface BirdReply {
  /** the last reply code (0000..9999), null when none was printed */
  code: number | null;
  /** codes seen, in order */
  codes: number[];
  /** the text without the codes, one line per line */
  lines: string[];
}

/** `birdc -v` output -> codes and text. A line "NNNN-text" / "NNNN text" carries a code; the
 *  continuation lines of a reply start with 5 spaces (the width of the code). */
export function parseBirdReply(text: string): BirdReply {
  const codes: number[] = [];
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const m = /^(\d{4})[ -](.*)$/.exec(raw);
    if (m) {
      codes.push(Number(m[1]));
      lines.push(m[2]!);
    } else if (raw.startsWith('     ')) lines.push(raw.slice(5));
    else if (raw.trim() !== '') lines.push(raw);
  }
  return { code: codes.length ? codes[codes.length - 1]! : null, codes, lines };
}

/** The error of a reply (a code 8000-9999: runtime or parse error), null when there is none. */
export function birdReplyError(r: BirdReply): string | null {
  const i = r.codes.findIndex((c) => c >= 8000);
  if (i < 0) return null;
  return r.lines.filter((l, j) => j >= i || /error/i.test(l)).join(' ').trim() || `error ${r.codes[i]}`;
}

/** What `birdc configure` answered: done (0003 Reconfigured, 0004/0005 in progress / queued), or rejected with BIRD's message. */
export function birdConfigureOutcome(r: BirdReply): { ok: true; message: string } | { ok: false; message: string } {
  const err = birdReplyError(r);
  if (err) return { ok: false, message: err };
  if (r.codes.some((c) => c === 3 || c === 4 || c === 5)) return { ok: true, message: r.lines[r.lines.length - 1] ?? '' };
  return { ok: false, message: r.lines.join(' ').trim() || 'no answer' };
}

/** Does birdc's output say BIRD could not be reached (exit 6), not that it refused? */
export function birdUnreachable(output: string): boolean {
  return /Unable to connect to server control socket|Connection refused|Server closed connection|Connection reset/i.test(output);
}

export interface BirdRoute {
  prefix: string;
  proto: string;
  /** BIRD's primary (best) route for the prefix ("*") */
  best: boolean;
  /** "blackhole", "unicast", ... */
  kind: string;
  /** `BGP.as_path` of `show route ... all` (for `show route export P all`: as the export filter left
   *  it, before BGP adds the local AS on eBGP); undefined when not shown */
  asPath?: number[];
}

/** `show route [where ...]` text (codes stripped) -> every route: "P  blackhole [PROTO TIME] * (PREF)",
 *  further routes of the same prefix on indented lines. */
export function parseBirdRoutes(lines: readonly string[]): BirdRoute[] {
  const out: BirdRoute[] = [];
  let current: string | null = null;
  for (const line of lines) {
    if (/^Table\s/.test(line) || line.trim() === '') {
      if (/^Table\s/.test(line)) current = null;
      continue;
    }
    const m = /^\s+BGP\./.test(line) ? null : /^(\S+)?\s+(?:(\S+)\s+)?.*?\[(\S+)\s[^\]]*\](\s+\*)?/.exec(line);
    if (!m) {
      const path = /^\s+BGP\.as_path:\s*(.*)$/.exec(line);
      const last = out[out.length - 1];
      if (path && last) last.asPath = path[1]!.split(/\s+/).filter((a) => /^\d+$/.test(a)).map(Number);
      continue;
    }
    if (m[1] !== undefined) {
      const p = normalisePrefix(m[1]);
      if (!p) continue;
      current = p;
    }
    if (current === null) continue;
    out.push({ prefix: current, proto: m[3]!, best: m[4] !== undefined, kind: m[2] ?? '' });
  }
  return out;
}

/** vip-mgmt's routes BIRD runs -> networks (prefix, route-map of the protocol holding it). */
export function birdNetworks(routes: readonly BirdRoute[]): BgpNetwork[] {
  const seen = new Set<string>();
  const out: BgpNetwork[] = [];
  for (const r of routes) {
    const rm = routeMapOfBirdProtocol(r.proto);
    if (rm === null || seen.has(r.prefix)) continue;
    seen.add(r.prefix);
    out.push({ prefix: r.prefix, routeMap: rm });
  }
  return out;
}

export interface BirdProtocol {
  name: string;
  proto: string;
  state: string;
  info: string;
  /** BGP only */
  bgpState: string | null;
  neighbor: string | null;
  neighborAs: number | null;
  localAs: number | null;
  channels: { family: string; state: string | null; exportFilter: string | null; imported: number | null; exported: number | null }[];
}

/** `show protocols all` text (codes stripped) -> protocols. */
export function parseBirdProtocols(lines: readonly string[]): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  let p: BirdProtocol | null = null;
  let ch: BirdProtocol['channels'][number] | null = null;
  for (const line of lines) {
    if (/^Name\s+Proto\s+Table/.test(line)) continue;
    const head = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (head && !/^\s/.test(line)) {
      p = { name: head[1]!, proto: head[2]!, state: head[4]!, info: head[6]!.trim(), bgpState: null, neighbor: null, neighborAs: null, localAs: null, channels: [] };
      ch = null;
      out.push(p);
      continue;
    }
    if (!p) continue;
    const kv = /^\s+([A-Za-z][A-Za-z ]*?):\s+(.*)$/.exec(line);
    const chan = /^\s+Channel\s+(\S+)/.exec(line);
    if (chan) {
      ch = { family: chan[1]!, state: null, exportFilter: null, imported: null, exported: null };
      p.channels.push(ch);
      continue;
    }
    if (!kv) continue;
    const [key, value] = [kv[1]!, kv[2]!.trim()];
    if (key === 'BGP state') p.bgpState = value;
    else if (key === 'Neighbor address') p.neighbor = value;
    else if (key === 'Neighbor AS') p.neighborAs = Number(value) || null;
    else if (key === 'Local AS') p.localAs = Number(value) || null;
    else if (ch && key === 'State') ch.state = value;
    else if (ch && key === 'Output filter') ch.exportFilter = value;
    else if (ch && key === 'Routes') {
      const r = /(\d+) imported, (?:\d+ filtered, )?(\d+) exported/.exec(value);
      if (r) {
        ch.imported = Number(r[1]);
        ch.exported = Number(r[2]);
      }
    }
  }
  return out;
}

/** The BGP protocols as doctor's neighbors. */
export function birdNeighbors(protocols: readonly BirdProtocol[]): BgpNeighbor[] {
  return protocols
    .filter((p) => p.proto === 'BGP')
    .map((p) => ({
      peer: p.neighbor ?? p.name,
      remoteAs: p.neighborAs,
      hostname: null,
      state: p.bgpState ?? p.state,
      upDown: null,
      families: p.channels.map((c) => `${c.family}Unicast`),
      prefixesReceived: p.channels.reduce<number | null>((n, c) => (c.imported === null ? n : (n ?? 0) + c.imported), null),
    }));
}

/** The local AS: the one the BGP protocols agree on, null when there is none (or they disagree). */
export function birdLocalAs(protocols: readonly BirdProtocol[]): number | null {
  const all = new Set(protocols.filter((p) => p.proto === 'BGP' && p.localAs !== null).map((p) => p.localAs!));
  return all.size === 1 ? [...all][0]! : null;
}

/** BGP protocols that do not export with vip_mgmt_export (on some channel): the operator's config misses the filter. */
export function birdProtocolsWithoutFilter(protocols: readonly BirdProtocol[]): string[] {
  return protocols.filter((p) => p.proto === 'BGP' && !p.channels.some((c) => c.exportFilter === BIRD_FILTER)).map((p) => p.name);
}

/** What BIRD exports to each BGP protocol (`show route export NAME all where proto ~ "vip_mgmt_*"`),
 *  by protocol name; only the Established ones are asked (a channel that is down has no export). */
export type BirdExports = ReadonlyMap<string, readonly BirdRoute[]>;

/** routeMaps: every VIP-RANK-n and VIP-DRAIN, always (policy.ts computedRouteMaps): the include
 *  vip-mgmt writes in the same apply defines the protocols and the filter a route needs. Whether
 *  BIRD runs them and the BGP protocols export with the filter is doctor's check.
 *  networks: each route's route-map is its protocol's, unless what BIRD exports of it carries
 *  another AS path (a filter BIRD runs that is not the one this config writes, e.g. prepend.base
 *  changed): then the route-map that path stands for (null for none), as with GoBGP, so the next
 *  run re-applies it. */
export function runningFromBird(routes: readonly BirdRoute[], protocols: readonly BirdProtocol[], rule: PrependRule, text: string, exports: BirdExports = new Map()): RunningBgp {
  const asn = birdLocalAs(protocols);
  const exported = new Map<string, number[]>();
  for (const list of exports.values()) for (const r of list) if (r.asPath && !exported.has(r.prefix)) exported.set(r.prefix, r.asPath);
  const networks = birdNetworks(routes).map((n) => {
    const path = exported.get(n.prefix);
    if (!path || asn === null) return n;
    const actual = path.every((a) => a === asn) ? routeMapOfPrepends(path.length, rule) : null;
    return actual === n.routeMap ? n : { ...n, routeMap: actual };
  });
  return { asn, networks, routeMaps: computedRouteMaps(rule), text };
}

/** PrefixState per asked prefix: BIRD holds vip-mgmt's static route for it (primary or not), and
 *  advertisedTo is the number of BGP protocols BIRD exports it to (EXPORTS: BIRD's own answer,
 *  after the export filter). */
export function birdPrefixStates(routes: readonly BirdRoute[], prefixes: readonly string[], exports: BirdExports): Map<string, PrefixState> {
  const ours = new Map<string, BirdRoute>();
  for (const r of routes) if (routeMapOfBirdProtocol(r.proto) !== null && !ours.has(r.prefix)) ours.set(r.prefix, r);
  const sentTo = new Map<string, number>();
  for (const list of exports.values()) {
    for (const p of new Set(list.filter((r) => routeMapOfBirdProtocol(r.proto) !== null).map((r) => r.prefix))) sentTo.set(p, (sentTo.get(p) ?? 0) + 1);
  }
  const out = new Map<string, PrefixState>();
  for (const p of prefixes) {
    const r = ours.get(p);
    out.set(p, { prefix: p, inTable: r !== undefined, valid: r !== undefined, best: r?.best ?? false, advertisedTo: r ? (sentTo.get(p) ?? 0) : 0 });
  }
  return out;
}

/** The BGP protocols whose export vip-mgmt reads: Established ones (a down channel has no export). */
export function birdEstablished(protocols: readonly BirdProtocol[]): string[] {
  return protocols.filter((p) => p.proto === 'BGP' && p.bgpState === 'Established').map((p) => p.name);
}

/** render --check for BIRD: the routes the rendered include holds against the ones BIRD runs
 *  (readRunning), as differences in the include's terms (+ rendered only, - running only). */
export function diffBirdRoutes(rendered: ReadonlyMap<string, string>, running: readonly BgpNetwork[]): RenderDifference[] {
  const have = new Map(running.map((n) => [n.prefix, n.routeMap]));
  const out: RenderDifference[] = [];
  const line = (prefix: string, rm: string | null) => ({
    kind: 'network' as const,
    context: [`protocol static ${(rm && birdProtocolOf(rm, familyOf(prefix))) ?? '?'}`],
    line: `route ${prefix} blackhole;`,
    prefix,
  });
  for (const [prefix, rm] of [...rendered].sort(([a], [b]) => comparePrefixes(a, b))) {
    const now = have.get(prefix);
    if (now === rm) continue;
    if (now !== undefined) out.push({ action: 'remove', ...line(prefix, now) });
    out.push({ action: 'add', ...line(prefix, rm) });
  }
  for (const n of [...running].sort((a, b) => comparePrefixes(a.prefix, b.prefix))) {
    if (!rendered.has(n.prefix)) out.push({ action: 'remove', ...line(n.prefix, n.routeMap) });
  }
  return out;
}
