// Pure rendering of a DC's FRR snippet (view model + mustache), VIP conflict detection, and the structured diff behind `render --check`.
import Mustache from 'mustache';
import { VipError, type ErrorCode } from './errors.js';
import { parseRunningConfig } from './frrconfig.js';
import { compareVips, insideAny, normalisePrefix, parseAddress, toVip } from './prefix.js';
import { dcPolicy, DRAIN_ROUTE_MAP, drainPrepends, prependsOf, rankOf, routeMapName, sortedTargets } from './policy.js';
import type { Hold, ResolvedName, RunningBgp, Vip } from './types.js';
import type { Config, ConfigProblem } from '../config/load.js';
import { MAX_PREPEND } from '../config/schema.js';

/** Prefix-lists the snippet defines; FRR keeps ip and ipv6 lists apart, the names keep them apart for people. */
export const PREFIX_LIST_V4 = 'VIP-PREFIXES-V4';
export const PREFIX_LIST_V6 = 'VIP-PREFIXES-V6';

/** Route-maps named like this belong to vip-mgmt: --check reports one the snippet does not define. */
const OWNED_ROUTE_MAP = /^(VIP-RANK-\d+|VIP-DRAIN)$/;

type RenderConfig = Pick<Config, 'datacenters' | 'prepend' | 'services' | 'vip_prefixes'>;

// ---- view model -------------------------------------------------------------------------------

export interface RenderVip {
  vip: string;
  prefix: string;
  family: 4 | 6;
  /** service names joined with "," (the log field convention) */
  service: string;
  services: string[];
  rank: number;
  routeMap: string;
}

export interface RenderModel {
  dc: string;
  asn: number;
  configPath: string;
  prependBase: number;
  /** "0, 2", or "none" when this DC announces nothing */
  ranks: string;
  announced: { name: string; rank: number; routeMap: string; vips: string }[];
  notAnnounced: { name: string; prefer: string }[];
  prefixLists: {
    afi: 'ip' | 'ipv6';
    name: string;
    entries: { afi: 'ip' | 'ipv6'; list: string; seq: number; prefix: string; ge: number | null }[];
  }[];
  routeMaps: { name: string; rank: number; count: number; prepend: { asPath: string } | null }[];
  /** route-map VIP-DRAIN: GRACEFUL_SHUTDOWN community and a longer path than any rank */
  drain: { name: string; count: number; asPath: string };
  /** Only families with at least one network: an empty address-family block is noise in a diff. */
  families: { afi: 'ipv4' | 'ipv6'; networks: { prefix: string; routeMap: string; service: string }[] }[];
  /** the VIPs this DC announces, held ones excluded */
  vips: RenderVip[];
  /** VIPs left out because of a maintenance hold (a comment line each) */
  held: { prefix: string; routeMap: string; reason: string; by: string; since: string }[];
}

/** Text that lands in an FRR comment: a newline there would start a configuration command. */
const oneLine = (s: string): string => s.replace(/[\u0000-\u001f\u007f]/g, '?');

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function policyError(errors: { code: ErrorCode; message: string }[], dc: string): VipError {
  const list = errors.map((e) => `  ${e.message}`).join('\n');
  return new VipError(errors[0]!.code, `cannot render dc ${dc}:\n${list}`, { dc, problems: errors.map((e) => e.message) });
}

/**
 * The view model of DC's snippet. Every service lists this DC or not; one that does is announced at
 * rank = index in prefer, with route-map VIP-RANK-<rank> prepending the DC's AS prepend.base + rank
 * times. Route-maps are emitted for the ranks in use, and rank 0 always
 * (what `add` uses for a literal address or a name no service lists). Sorted throughout (services by name,
 * VIPs and prefixes numerically, IPv4 first) so the same config and DNS give the same bytes.
 * Which VIPs, at which rank: policy.ts, the rule every command shares. VIPs with a maintenance hold
 * in `holds` are left out (a comment line each). Throws VIP_E_USAGE for an unknown DC,
 * VIP_E_POLICY_PREFIX / VIP_E_POLICY_CONFLICT (all of them at once) for a VIP outside vip_prefixes
 * or with two ranks here.
 */
export function buildRenderModel(
  config: RenderConfig,
  dc: string,
  resolved: ReadonlyMap<string, ResolvedName>,
  configPath: string,
  holds: Readonly<Record<string, Hold>> = {},
): RenderModel {
  const known = Object.keys(config.datacenters).sort(byText);
  const asn = Object.hasOwn(config.datacenters, dc) ? config.datacenters[dc]!.asn : undefined;
  if (asn === undefined) throw new VipError('VIP_E_USAGE', `unknown datacenter "${dc}"; the config lists: ${known.join(', ') || '(none)'}`, { dc });
  const base = config.prepend.base;

  const services = [...config.services].sort((a, b) => byText(a.name, b.name));
  for (const s of services) {
    if (rankOf(s, dc) !== null && !resolved.has(s.name)) throw new Error(`internal: service ${s.name} was not resolved before rendering`);
  }
  const policy = dcPolicy(config, dc, [...resolved.values()]);
  const problems: { code: ErrorCode; message: string }[] = policy.errors.map((e) => ({ code: e.code, message: e.message }));
  const announced: RenderModel['announced'] = [];
  const notAnnounced: RenderModel['notAnnounced'] = [];
  for (const s of services) {
    const rank = rankOf(s, dc);
    if (rank === null) {
      notAnnounced.push({ name: oneLine(s.name), prefer: oneLine(s.prefer.join(', ')) });
      continue;
    }
    if (base + rank > MAX_PREPEND) {
      problems.push({ code: 'VIP_E_CONFIG', message: `${s.name}: ${base + rank} prepends (prepend.base ${base} + rank ${rank}) is over the limit of ${MAX_PREPEND}` });
      continue;
    }
    const vips = [...new Map(resolved.get(s.name)!.addresses.map((a) => [toVip(a).prefix, toVip(a)])).values()].sort(compareVips);
    announced.push({ name: oneLine(s.name), rank, routeMap: routeMapName(rank), vips: vips.map((v) => v.address).join(', ') || '(none)' });
  }
  if (problems.length > 0) {
    // a policy refusal says more than a config one: the config loader already bounds prepends
    const first = problems.find((p) => p.code !== 'VIP_E_CONFIG') ?? problems[0]!;
    throw policyError([first, ...problems.filter((p) => p !== first)], dc);
  }

  const all: RenderVip[] = sortedTargets(policy).map((t) => ({
    vip: t.vip.address,
    prefix: t.vip.prefix,
    family: t.vip.family,
    service: oneLine(t.names.join(',')),
    services: t.names,
    rank: t.rank,
    routeMap: t.routeMap,
  }));
  // Held VIPs stay out: reloading FRR from this file must never re-announce a drain.
  const vips = all.filter((v) => !Object.hasOwn(holds, v.prefix));
  const held = all
    .filter((v) => Object.hasOwn(holds, v.prefix))
    .map((v) => {
      const h = holds[v.prefix]!;
      return { prefix: v.prefix, routeMap: v.routeMap, reason: oneLine(h.reason), by: oneLine(h.by), since: oneLine(h.since) };
    });

  // Rank 0 is always there: `vip-mgmt -a` of a literal address or an unlisted name announces with it.
  const ranks = [...new Set([0, ...announced.map((a) => a.rank)])].sort((a, b) => a - b);
  const drainCount = drainPrepends(base, known.length);
  const routeMaps: RenderModel['routeMaps'] = ranks.map((rank) => {
    const count = prependsOf(routeMapName(rank), { base, datacenters: known.length })!;
    return { name: routeMapName(rank), rank, count, prepend: count > 0 ? { asPath: Array(count).fill(asn).join(' ') } : null };
  });

  const prefixLists: RenderModel['prefixLists'] = [];
  for (const [family, afi, list] of [
    [4, 'ip', PREFIX_LIST_V4],
    [6, 'ipv6', PREFIX_LIST_V6],
  ] as const) {
    const host = family === 4 ? 32 : 128;
    const nets = [...new Set(config.vip_prefixes.map((p) => normalisePrefix(p)).filter((p): p is string => p !== null))]
      .filter((p) => parseAddress(p.split('/')[0]!)?.family === family)
      .sort((a, b) => comparePrefixes(a, b));
    if (nets.length === 0) continue;
    prefixLists.push({
      afi,
      name: list,
      // FRR rejects "ge N" unless N > the prefix length: a host-length entry stands alone
      entries: nets.map((prefix, i) => ({ afi, list, seq: 5 * (i + 1), prefix, ge: Number(prefix.split('/')[1]) < host ? host : null })),
    });
  }

  const families: RenderModel['families'] = [];
  for (const [family, afi] of [
    [4, 'ipv4'],
    [6, 'ipv6'],
  ] as const) {
    const networks = vips.filter((v) => v.family === family).map((v) => ({ prefix: v.prefix, routeMap: v.routeMap, service: v.service }));
    if (networks.length > 0) families.push({ afi, networks });
  }

  return {
    dc,
    asn,
    configPath: oneLine(configPath),
    prependBase: base,
    ranks: ranks.length > 0 ? ranks.join(', ') : 'none',
    announced,
    notAnnounced,
    prefixLists,
    routeMaps,
    drain: { name: DRAIN_ROUTE_MAP, count: drainCount, asPath: Array(drainCount).fill(asn).join(' ') },
    families,
    vips,
    held,
  };
}

/** Numeric order of normalised prefixes: family, address, then length. */
function comparePrefixes(a: string, b: string): number {
  const [aa, al] = a.split('/') as [string, string];
  const [ba, bl] = b.split('/') as [string, string];
  return compareVips(toVip(aa), toVip(ba)) || Number(al) - Number(bl);
}

/** Render the template with the model. No HTML escaping: prefixes hold "/" and FRR is not HTML. */
export function renderSnippet(templateText: string, model: RenderModel): string {
  try {
    return Mustache.render(templateText, model, {}, { escape: (v: unknown) => String(v) });
  } catch (e) {
    throw new VipError('VIP_E_TEMPLATE', `the FRR template does not render: ${(e as Error).message}`);
  }
}

// ---- conflicts --------------------------------------------------------------------------------

/**
 * VIPs claimed by two services whose prefer lists differ: each DC could announce only one rank for
 * the address, so the AS-path ranking of at least one service would silently be wrong. One problem
 * per pair of services, on the later one's path, naming both and every shared VIP.
 */
export function findConflicts(config: Pick<Config, 'services'>, resolved: ReadonlyMap<string, ResolvedName>): ConfigProblem[] {
  const firstClaim = new Map<string, number>();
  const pairs = new Map<string, { first: number; later: number; vips: Vip[] }>();
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  config.services.forEach((s, i) => {
    const r = resolved.get(s.name);
    if (!r) return;
    for (const a of r.addresses) {
      if (!parseAddress(a)) continue;
      const vip = toVip(a);
      const first = firstClaim.get(vip.prefix);
      if (first === undefined) {
        firstClaim.set(vip.prefix, i);
        continue;
      }
      if (first === i || same(config.services[first]!.prefer, s.prefer)) continue;
      const key = `${first}/${i}`;
      const pair = pairs.get(key) ?? { first, later: i, vips: [] };
      if (!pair.vips.some((v) => v.prefix === vip.prefix)) pair.vips.push(vip);
      pairs.set(key, pair);
    }
  });
  return [...pairs.values()]
    .sort((a, b) => a.later - b.later || a.first - b.first)
    .map(({ first, later, vips }) => {
      const f = config.services[first]!;
      const l = config.services[later]!;
      const list = vips.sort(compareVips).map((v) => v.address).join(', ');
      return {
        path: `services[${later}].name`,
        message:
          `${l.name} and ${f.name} (services[${first}]) both resolve to ${list}, but prefer [${l.prefer.join(', ')}] vs [${f.prefer.join(', ')}]: ` +
          'a VIP has one rank per DC, so give them the same prefer list or different VIPs',
      };
    });
}

// ---- render --check ----------------------------------------------------------------------------

export type DifferenceKind = 'prefix-list' | 'route-map' | 'router-bgp' | 'network';

/** One line frr-reload would add or remove, with the blocks it sits in (outermost first). */
export interface RenderDifference {
  action: 'add' | 'remove';
  kind: DifferenceKind;
  context: string[];
  line: string;
  /** the VIP a network line is about */
  prefix?: string;
  note?: string;
}

interface PrefixListEntry {
  afi: 'ip' | 'ipv6';
  name: string;
  seq: number | null;
  action: string;
  prefix: string;
  ge: number | null;
  le: number | null;
}

interface RouteMapEntry {
  name: string;
  action: string;
  seq: number;
  lines: string[];
}

/** Prefix-lists and route-map bodies of FRR configuration text (snippet or `show running-config`). */
function parsePolicy(text: string): { prefixLists: PrefixListEntry[]; routeMaps: RouteMapEntry[] } {
  const prefixLists: PrefixListEntry[] = [];
  const routeMaps: RouteMapEntry[] = [];
  let open: RouteMapEntry | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const words = raw.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0 || words[0]!.startsWith('!')) continue;
    if (/^\s/.test(raw)) {
      if (open && words[0] !== 'exit') open.lines.push(words.join(' '));
      continue;
    }
    open = null;
    if ((words[0] === 'ip' || words[0] === 'ipv6') && words[1] === 'prefix-list' && words[2]) {
      let i = 3;
      let seq: number | null = null;
      if (words[i] === 'seq') {
        seq = Number(words[i + 1]);
        i += 2;
      }
      const action = words[i];
      const prefix = words[i + 1] ? normalisePrefix(words[i + 1]!) : null;
      if ((action !== 'permit' && action !== 'deny') || !prefix) continue; // description, sequence-number...
      let ge: number | null = null;
      let le: number | null = null;
      for (let j = i + 2; j + 1 < words.length; j += 2) {
        if (words[j] === 'ge') ge = Number(words[j + 1]);
        if (words[j] === 'le') le = Number(words[j + 1]);
      }
      prefixLists.push({ afi: words[0], name: words[2], seq, action, prefix, ge, le });
    } else if (words[0] === 'route-map' && words[1] && (words[2] === 'permit' || words[2] === 'deny')) {
      open = { name: words[1], action: words[2], seq: Number(words[3] ?? 10), lines: [] };
      routeMaps.push(open);
    }
  }
  return { prefixLists, routeMaps };
}

const prefixListLine = (e: PrefixListEntry): string =>
  `${e.afi} prefix-list ${e.name}${e.seq !== null ? ` seq ${e.seq}` : ''} ${e.action} ${e.prefix}${e.ge !== null ? ` ge ${e.ge}` : ''}${e.le !== null ? ` le ${e.le}` : ''}`;
// order does not matter between permits of one list, and FRR renumbers: compare without seq
const prefixListKey = (e: PrefixListEntry): string => `${e.afi} ${e.name} ${e.action} ${e.prefix} ${e.ge ?? '-'} ${e.le ?? '-'}`;
const routeMapHeader = (m: RouteMapEntry): string => `route-map ${m.name} ${m.action} ${m.seq}`;

function compareRouteMapNames(a: string, b: string): number {
  const ra = /^VIP-RANK-(\d+)$/.exec(a);
  const rb = /^VIP-RANK-(\d+)$/.exec(b);
  if (ra && rb) return Number(ra[1]) - Number(rb[1]);
  return byText(a, b);
}

const familyOfPrefix = (p: string): 4 | 6 => (p.includes(':') ? 6 : 4);
const afLine = (f: 4 | 6): string => `address-family ipv${f} unicast`;
const networkLine = (n: { prefix: string; routeMap: string | null }): string => `network ${n.prefix}${n.routeMap ? ` route-map ${n.routeMap}` : ''}`;

/**
 * What loading the rendered snippet would change in the running config, compared as structured,
 * normalised content (order and whitespace ignored): the snippet's prefix-lists, its route-maps and
 * any other VIP-RANK-<n> one, `router bgp` ASN, and network statements (prefix + route-map) per
 * address family. Running networks outside `vipPrefixes` (when given) are not vip-mgmt's and are
 * left out. A different ASN is a difference, and then every network moves. Empty: in sync.
 */
export function diffRendered(renderedText: string, running: RunningBgp, opts: { vipPrefixes?: readonly string[] } = {}): RenderDifference[] {
  const out: RenderDifference[] = [];
  const want = parsePolicy(renderedText);
  const have = parsePolicy(running.text);

  // prefix-lists: only the lists the snippet defines (others in the running config are not ours)
  const lists = new Set(want.prefixLists.map((e) => `${e.afi} ${e.name}`));
  const haveEntries = have.prefixLists.filter((e) => lists.has(`${e.afi} ${e.name}`));
  const wantKeys = new Set(want.prefixLists.map(prefixListKey));
  const haveKeys = new Set(haveEntries.map(prefixListKey));
  const plDiffs: (RenderDifference & { sortKey: PrefixListEntry })[] = [];
  for (const e of haveEntries) if (!wantKeys.has(prefixListKey(e))) plDiffs.push({ action: 'remove', kind: 'prefix-list', context: [], line: prefixListLine(e), sortKey: e });
  for (const e of want.prefixLists) if (!haveKeys.has(prefixListKey(e))) plDiffs.push({ action: 'add', kind: 'prefix-list', context: [], line: prefixListLine(e), sortKey: e });
  plDiffs.sort(
    (a, b) =>
      byText(a.sortKey.afi, b.sortKey.afi) ||
      byText(a.sortKey.name, b.sortKey.name) ||
      comparePrefixes(a.sortKey.prefix, b.sortKey.prefix) ||
      (a.action === b.action ? 0 : a.action === 'remove' ? -1 : 1),
  );
  out.push(...plDiffs.map(({ sortKey: _, ...d }) => d));

  // route-maps: the snippet's, plus any VIP-RANK-<n> the snippet no longer defines
  const wantNames = new Set(want.routeMaps.map((m) => m.name));
  const names = [...new Set([...wantNames, ...have.routeMaps.map((m) => m.name).filter((n) => OWNED_ROUTE_MAP.test(n))])].sort(compareRouteMapNames);
  for (const name of names) {
    const entryKey = (m: RouteMapEntry) => `${m.seq} ${m.action}`;
    const w = new Map(want.routeMaps.filter((m) => m.name === name).map((m) => [entryKey(m), m]));
    const h = new Map(have.routeMaps.filter((m) => m.name === name).map((m) => [entryKey(m), m]));
    const keys = [...new Set([...w.keys(), ...h.keys()])].sort((a, b) => Number(a.split(' ')[0]) - Number(b.split(' ')[0]) || byText(a, b));
    for (const k of keys) {
      const wm = w.get(k);
      const hm = h.get(k);
      const header = routeMapHeader((wm ?? hm)!);
      if (!wm || !hm) {
        const action = wm ? 'add' : 'remove';
        out.push({ action, kind: 'route-map', context: [], line: header });
        for (const l of (wm ?? hm)!.lines) out.push({ action, kind: 'route-map', context: [header], line: l });
        continue;
      }
      const wl = new Set(wm.lines);
      const hl = new Set(hm.lines);
      for (const l of hm.lines) if (!wl.has(l)) out.push({ action: 'remove', kind: 'route-map', context: [header], line: l });
      for (const l of wm.lines) if (!hl.has(l)) out.push({ action: 'add', kind: 'route-map', context: [header], line: l });
    }
  }

  // router bgp and its networks: the same parser reads both sides, so they compare like for like
  const wantBgp = parseRunningConfig(renderedText);
  if (wantBgp.asn === null) return out; // a custom template without router bgp claims no networks
  // vip-mgmt only ever configures host routes inside vip_prefixes; an aggregate there is the operator's
  const isHost = (p: string) => p.endsWith(familyOfPrefix(p) === 4 ? '/32' : '/128');
  const inScope = (p: string) => !opts.vipPrefixes || (isHost(p) && insideAny(toVip(p.split('/')[0]!), opts.vipPrefixes));
  const haveNets = running.asn === null ? [] : running.networks.filter((n) => inScope(n.prefix));
  const netDiffs: RenderDifference[] = [];
  if (running.asn !== wantBgp.asn) {
    const note =
      running.asn === null
        ? 'the speaker has no router bgp yet'
        : `the speaker runs router bgp ${running.asn}: FRR has one default instance, so loading this snippet fails until the ASN in the config or on the speaker is fixed`;
    out.push({ action: 'add', kind: 'router-bgp', context: [], line: `router bgp ${wantBgp.asn}`, note });
    if (running.asn !== null) out.push({ action: 'remove', kind: 'router-bgp', context: [], line: `router bgp ${running.asn}` });
    for (const n of haveNets) netDiffs.push({ action: 'remove', kind: 'network', context: [`router bgp ${running.asn}`, afLine(familyOfPrefix(n.prefix))], line: networkLine(n), prefix: n.prefix });
    for (const n of wantBgp.networks) netDiffs.push({ action: 'add', kind: 'network', context: [`router bgp ${wantBgp.asn}`, afLine(familyOfPrefix(n.prefix))], line: networkLine(n), prefix: n.prefix });
  } else {
    const key = (n: { prefix: string; routeMap: string | null }) => `${n.prefix} ${n.routeMap ?? ''}`;
    const w = new Set(wantBgp.networks.map(key));
    const h = new Set(haveNets.map(key));
    const ctx = (p: string) => [`router bgp ${wantBgp.asn}`, afLine(familyOfPrefix(p))];
    for (const n of haveNets) if (!w.has(key(n))) netDiffs.push({ action: 'remove', kind: 'network', context: ctx(n.prefix), line: networkLine(n), prefix: n.prefix });
    for (const n of wantBgp.networks) if (!h.has(key(n))) netDiffs.push({ action: 'add', kind: 'network', context: ctx(n.prefix), line: networkLine(n), prefix: n.prefix });
  }
  // grouped by block, then by VIP, a route-map change reading as "- old" then "+ new"
  netDiffs.sort(
    (a, b) =>
      byText(a.context[0]!, b.context[0]!) ||
      byText(a.context[1]!, b.context[1]!) ||
      compareVips(toVip(a.prefix!.split('/')[0]!), toVip(b.prefix!.split('/')[0]!)) ||
      (a.action === b.action ? 0 : a.action === 'remove' ? -1 : 1),
  );
  return [...out, ...netDiffs];
}

/**
 * Human form of the differences, diff-like: "+ " / "- " lines indented one space per block, with
 * each enclosing block shown once as unmarked context.
 */
export function formatDifferences(diffs: readonly RenderDifference[]): string {
  const lines: string[] = [];
  let shown: string[] = [];
  for (const d of diffs) {
    let common = 0;
    while (common < d.context.length && common < shown.length && shown[common] === d.context[common]) common++;
    for (let i = common; i < d.context.length; i++) lines.push(`  ${' '.repeat(i)}${d.context[i]}`);
    const mark = d.action === 'add' ? '+ ' : '- ';
    lines.push(`${mark}${' '.repeat(d.context.length)}${d.line}${d.note ? `    (${d.note})` : ''}`);
    const opensBlock = d.kind === 'router-bgp' || (d.kind === 'route-map' && d.context.length === 0);
    shown = opensBlock ? [...d.context, d.line] : [...d.context];
  }
  return lines.join('\n');
}
