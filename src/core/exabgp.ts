// Pure part of the ExaBGP 4 speaker: the exabgpcli commands of a batch, and its answers (`show adj-rib out extensive`, `show neighbor extensive`) read into the Speaker contract's shapes.
//
// Facts from ExaBGP 4.2.21 in the lab (test/lab/speakers/exabgp.ts), 2026-12-02:
// - ExaBGP sends the given as-path as is: for `as-path [ 64512 ]` the FRR router saw 64512, while
//   FRR's bgpd adds its own AS in front of what a route-map prepends. So a route-map that prepends
//   n times is `as-path` of the local AS n + 1 times here: the router sees the same path length
//   whichever speaker announces.
// - `announce attributes <attrs> nlri P1 P2 ...` announces many prefixes with one command (one
//   exabgpcli start, ~0.2 s of Python each); `withdraw attributes next-hop self nlri ...` withdraws
//   them. Withdrawing a route ExaBGP does not have is no error.
// - exabgpcli exits 0 when ExaBGP rejects a command; it prints "ExaBGP returns an error" instead.
//   It exits 1 when the pipes are missing or ExaBGP does not answer ("could not send command to
//   ExaBGP (command timeout)", "ExaBGP is not running / using the configured named pipe").
// - `show adj-rib out extensive`: one line per neighbor and route:
//   `neighbor 198.51.100.2 local-ip 198.51.100.1 local-as 64512 peer-as 65000 router-id ...
//   family-allowed in-open ipv4 unicast 192.0.2.10/32 next-hop self as-path [ 64512 64512 ]
//   community 65535:0`. The adj-rib out holds a route for a neighbor whose session is down too.
import { prependsOf, routeMapOfPrepends, DRAIN_ROUTE_MAP, type PrependRule } from './policy.js';
import { normalisePrefix } from './prefix.js';
import type { BgpNeighbor } from './doctor.js';
import type { PrefixState, RunningBgp, SpeakerChange } from './types.js';

/** RFC 8326 GRACEFUL_SHUTDOWN, sent with VIP-DRAIN as FRR's rendered VIP-DRAIN route-map does. */
export const GSHUT_COMMUNITY = '65535:0';

/** Prefixes per `announce attributes ... nlri` command: bounded lines, ExaBGP splits the UPDATEs. */
export const NLRI_PER_COMMAND = 500;

export interface ExabgpRoute {
  neighbor: string;
  localAs: number | null;
  family: 4 | 6;
  prefix: string;
  asPath: number[];
  communities: string[];
}

/** The as-path ExaBGP must be given for ROUTEMAP: the local AS prependsOf + 1 times; null for a
 *  route-map this tool does not know. */
export function exabgpAsPath(asn: number, routeMap: string | null, rule: PrependRule): number[] | null {
  const n = routeMap === null ? null : prependsOf(routeMap, rule);
  return n === null ? null : Array<number>(n + 1).fill(asn);
}

/** The exabgpcli argv (words after the program) of each command of one batch: withdraws first,
 *  then announces grouped by family and route-map. Throws TypeError for a route-map without a path
 *  (the policy never plans one). */
export function exabgpCommands(asn: number, changes: readonly SpeakerChange[], rule: PrependRule): string[][] {
  const out: string[][] = [];
  const groups = new Map<string, { family: 4 | 6; routeMap: string | null; prefixes: string[] }>();
  const withdraw = new Map<4 | 6, string[]>();
  for (const c of changes) {
    const family = c.prefix.includes(':') ? 6 : 4;
    if (c.action === 'delete') {
      withdraw.set(family, [...(withdraw.get(family) ?? []), c.prefix]);
      continue;
    }
    const key = `${family} ${c.routeMap}`;
    const g = groups.get(key) ?? { family, routeMap: c.routeMap, prefixes: [] };
    g.prefixes.push(c.prefix);
    groups.set(key, g);
  }
  for (const family of [4, 6] as const) {
    for (const part of chunks(withdraw.get(family) ?? [], NLRI_PER_COMMAND)) out.push(['withdraw', 'attributes', 'next-hop', 'self', 'nlri', ...part]);
  }
  for (const g of groups.values()) {
    const path = exabgpAsPath(asn, g.routeMap, rule);
    if (!path) throw new TypeError(`no AS path for route-map ${g.routeMap ?? '(none)'}`);
    const community = g.routeMap === DRAIN_ROUTE_MAP ? ['community', '[', GSHUT_COMMUNITY, ']'] : [];
    for (const part of chunks(g.prefixes, NLRI_PER_COMMAND)) {
      out.push(['announce', 'attributes', 'next-hop', 'self', 'as-path', '[', ...path.map(String), ']', ...community, 'nlri', ...part]);
    }
  }
  return out;
}

/** One-route-at-a-time commands (ExaBGP's classic `announce route`): the benchmark's baseline. */
export function exabgpRouteCommands(asn: number, changes: readonly SpeakerChange[], rule: PrependRule): string[][] {
  return changes.map((c) => {
    if (c.action === 'delete') return ['withdraw', 'route', c.prefix, 'next-hop', 'self'];
    const path = exabgpAsPath(asn, c.routeMap, rule);
    if (!path) throw new TypeError(`no AS path for route-map ${c.routeMap ?? '(none)'}`);
    return ['announce', 'route', c.prefix, 'next-hop', 'self', 'as-path', '[', ...path.map(String), ']', ...(c.routeMap === DRAIN_ROUTE_MAP ? ['community', '[', GSHUT_COMMUNITY, ']'] : [])];
  });
}

const ROUTE_LINE = /^neighbor\s+(\S+)\s.*?\b(ipv4|ipv6)\s+unicast\s+(\S+)\s+(.*)$/;

/** `show adj-rib out extensive` -> routes; lines it does not know are skipped. */
export function parseAdjRibOut(text: string): ExabgpRoute[] {
  const out: ExabgpRoute[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const m = ROUTE_LINE.exec(line);
    if (!m) continue;
    const prefix = normalisePrefix(m[3]!);
    if (!prefix) continue;
    const rest = m[4]!;
    const localAs = /\blocal-as\s+(\d+)/.exec(line);
    const bracket = /\bas-path\s+\[\s*([\d\s]*?)\s*\]/.exec(rest);
    const single = bracket ? null : /\bas-path\s+(\d+)/.exec(rest);
    const asPath = bracket ? bracket[1]!.split(/\s+/).filter(Boolean).map(Number) : single ? [Number(single[1])] : [];
    const cb = /\bcommunity\s+\[\s*([^\]]*?)\s*\]/.exec(rest);
    const cs = cb ? null : /\bcommunity\s+(\S+)/.exec(rest);
    const communities = cb ? cb[1]!.split(/\s+/).filter(Boolean) : cs ? [cs[1]!] : [];
    out.push({ neighbor: m[1]!, localAs: localAs ? Number(localAs[1]) : null, family: m[2] === 'ipv6' ? 6 : 4, prefix, asPath, communities });
  }
  return out;
}

/** The route-map a route's AS path stands for: all local AS, prependsOf + 1 long; null otherwise. */
export function routeMapOfExabgpPath(asn: number, asPath: readonly number[], rule: PrependRule): string | null {
  if (asPath.length === 0 || asPath.some((a) => a !== asn)) return null;
  return routeMapOfPrepends(asPath.length - 1, rule);
}

/** What ExaBGP announces, as RunningBgp (types.ts): one network per prefix (the first neighbor's
 *  route decides its route-map), every computed route-map present. */
export function runningFromExabgp(routes: readonly ExabgpRoute[], localAs: number | null, rule: PrependRule, routeMaps: string[], text: string): RunningBgp {
  const asn = localAs ?? routes.find((r) => r.localAs !== null)?.localAs ?? null;
  const seen = new Map<string, string | null>();
  for (const r of routes) if (!seen.has(r.prefix)) seen.set(r.prefix, asn === null ? null : routeMapOfExabgpPath(asn, r.asPath, rule));
  return { asn, networks: [...seen].map(([prefix, routeMap]) => ({ prefix, routeMap })), routeMaps, text };
}

/** PrefixState per asked prefix: in the table when a neighbor's adj-rib out holds it; ExaBGP has no
 *  best-path choice for its own routes (valid and best), advertised to the neighbors whose adj-rib
 *  out lists it (whether their session is up or not: the adj-rib out says nothing of that). */
export function exabgpPrefixStates(routes: readonly ExabgpRoute[], prefixes: readonly string[]): Map<string, PrefixState> {
  const by = new Map<string, Set<string>>();
  for (const r of routes) by.set(r.prefix, (by.get(r.prefix) ?? new Set()).add(r.neighbor));
  const out = new Map<string, PrefixState>();
  for (const p of prefixes) {
    const n = by.get(p);
    out.set(p, { prefix: p, inTable: n !== undefined, valid: n !== undefined, best: n !== undefined, advertisedTo: n?.size ?? 0 });
  }
  return out;
}

/** `show neighbor extensive` -> the local AS (first neighbor's) and each neighbor's session. */
export function parseNeighborExtensive(text: string): { localAs: number | null; neighbors: BgpNeighbor[] } {
  const neighbors: BgpNeighbor[] = [];
  let localAs: number | null = null;
  let cur: BgpNeighbor | null = null;
  let inFamilies = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    const head = /^Neighbor\s+(\S+)/.exec(line);
    if (head) {
      cur = { peer: head[1]!, remoteAs: null, hostname: null, state: 'unknown', upDown: null, families: [], prefixesReceived: null };
      neighbors.push(cur);
      inFamilies = false;
      continue;
    }
    if (!cur) continue;
    let m: RegExpExecArray | null;
    if (/^\s{2}\S/.test(line)) inFamilies = /^\s{2}Families\b/.test(line);
    if ((m = /^\s+state\s+(\S+)/.exec(line))) cur.state = m[1] === 'ESTABLISHED' ? 'Established' : m[1]!.charAt(0) + m[1]!.slice(1).toLowerCase();
    else if ((m = /^\s+(?:up|down) for\s+(\S+)/.exec(line))) cur.upDown = m[1]!;
    else if ((m = /^\s+AS\s+(\d+)\s+(\d+|n\/a)/.exec(line))) {
      localAs ??= Number(m[1]);
      if (m[2] !== 'n/a') cur.remoteAs = Number(m[2]);
    } else if (inFamilies && (m = /^\s+(ipv4|ipv6) unicast:\s+(\S+)/.exec(line)) && m[2] === 'enabled') cur.families.push(`${m[1]}Unicast`);
  }
  return { localAs, neighbors };
}

export type ExabgpcliVerdict = { kind: 'ok' } | { kind: 'rejected'; message: string } | { kind: 'unavailable'; message: string };

/** What one exabgpcli run says: ExaBGP refused the command (exit 0!), could not be reached, or ok. */
export function classifyExabgpcli(exitCode: number | undefined, output: string): ExabgpcliVerdict {
  const text = output.trim();
  if (/ExaBGP returns an error/.test(text)) return { kind: 'rejected', message: 'ExaBGP rejected the command (its log says why)' };
  if (/ExaBGP is shutting down/.test(text)) return { kind: 'unavailable', message: 'ExaBGP is shutting down' };
  if (exitCode !== 0) return { kind: 'unavailable', message: text.split('\n').find((l) => /could not|not running|named pipe/i.test(l))?.trim() ?? (text.split('\n').at(-1) || `exit ${exitCode}`) };
  return { kind: 'ok' };
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
