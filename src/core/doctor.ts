// Pure part of `doctor`: each check's verdict and fix from what was observed, the exit code, the one-line-per-check text and the --json shape.
//
// The CLI (src/cli/doctor.ts) does the looking (vtysh, DNS, IPVS, interfaces, files) and hands the
// observations here, so every verdict and every fix text is testable without a host.
import { EXIT } from './errors.js';
import { dcPolicy, DRAIN_ROUTE_MAP, rankOf, routeMapName } from './policy.js';
import { compareVips, insideAny, parseAddress, toVip } from './prefix.js';
import type { Hold, ResolvedName, RunningBgp, Vip } from './types.js';
import type { Config } from '../config/load.js';
import type { SpeakerKind } from '../config/schema.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Check {
  /** stable machine name: "bgpd", "neighbor:198.51.100.2", "vip-local:192.0.2.1/32", ... */
  id: string;
  /** what was checked, for people: "bgpd answering" */
  title: string;
  verdict: Verdict;
  detail: string;
  /** what to do about a warn or fail */
  fix?: string;
}

/** A failure as the adapters report it (a VipError's code and message). */
export interface Failure {
  code: string;
  message: string;
}

const ok = (id: string, title: string, detail: string): Check => ({ id, title, verdict: 'ok', detail });
const bad = (verdict: 'warn' | 'fail', id: string, title: string, detail: string, fix: string): Check => ({ id, title, verdict, detail, fix });

// ---- messages -----------------------------------------------------------------------------------

// The adapters' messages read "<what happened>: <what to do>"; doctor prints the two apart.
const FIX_START = /: ((?:start|install|run|wait|fix|check|set|use|publish|point|retry|add|is the|clear|inspect|load|create)\b.*)$/s;

/** Split an adapter message into the observation and its fix; `fallback` when it names none. */
export function splitFix(message: string, fallback: string): { detail: string; fix: string } {
  const m = FIX_START.exec(message);
  if (!m || m.index === 0) return { detail: message, fix: fallback };
  return { detail: message.slice(0, m.index), fix: m[1]! };
}

// ---- BGP speaker ----------------------------------------------------------------------------------

export interface SpeakerContext {
  dialect: SpeakerKind;
  /** the program the adapter runs: vtysh (frr, quagga), birdc, exabgpcli, gobgp */
  vtysh: string;
  pathspace?: string;
}

/** Per speaker: the program's config key, its Debian package, the daemon's name and how to start it. */
const SPEAKER_FACTS: Record<Exclude<SpeakerKind, 'frr' | 'quagga'>, { key: string; pkg: string; daemon: string; start: string }> = {
  bird: { key: 'bgp.bird.birdc', pkg: 'bird2', daemon: 'bird', start: 'systemctl start bird' },
  exabgp: { key: 'bgp.exabgp.cli', pkg: 'exabgp', daemon: 'exabgp', start: 'systemctl start exabgp (its named pipes must exist first: mkfifo /run/exabgp/NAME.in /run/exabgp/NAME.out)' },
  gobgp: { key: 'bgp.gobgp.cli', pkg: 'gobgpd', daemon: 'gobgpd', start: 'systemctl start gobgpd (with --api-hosts matching bgp.gobgp.api)' },
};

const isFrrLike = (k: SpeakerKind): k is 'frr' | 'quagga' => k === 'frr' || k === 'quagga';

function startFix(ctx: SpeakerContext): string {
  if (!isFrrLike(ctx.dialect)) return SPEAKER_FACTS[ctx.dialect].start;
  if (ctx.dialect === 'quagga') return 'systemctl start quagga (and bgpd=yes in /etc/quagga/daemons)';
  const unit = ctx.pathspace ? `frr@${ctx.pathspace}` : 'frr';
  return `systemctl start ${unit} (and bgpd=yes in /etc/frr/${ctx.pathspace ? `${ctx.pathspace}/` : ''}daemons)`;
}

/** The speaker's program (vtysh, birdc, exabgpcli, gobgp) found on PATH (or at its configured path) and executable. */
export function vtyshCheck(ctx: SpeakerContext, found: string | null): Check {
  if (!isFrrLike(ctx.dialect)) {
    const f = SPEAKER_FACTS[ctx.dialect];
    const id = `${ctx.dialect}-cli`;
    const title = `${ctx.vtysh} present`;
    if (found) return ok(id, title, found);
    return bad('fail', id, title, `"${ctx.vtysh}" not found or not executable`, `apt-get install ${f.pkg}, or set ${f.key} to its full path`);
  }
  const title = 'vtysh present';
  if (found) return ok('vtysh', title, `${found}${ctx.pathspace ? ` (-N ${ctx.pathspace})` : ''}`);
  return bad('fail', 'vtysh', title, `"${ctx.vtysh}" not found or not executable`, `apt-get install ${ctx.dialect === 'quagga' ? 'quagga' : 'frr'}, or set bgp.vtysh to its full path`);
}

/** The BGP daemon answered with its running state, or why it did not. */
export function bgpdCheck(ctx: SpeakerContext, r: { running: RunningBgp } | { error: Failure }): Check {
  const frrLike = isFrrLike(ctx.dialect);
  const id = frrLike ? 'bgpd' : ctx.dialect;
  const title = `${frrLike ? 'bgpd' : SPEAKER_FACTS[ctx.dialect as Exclude<SpeakerKind, 'frr' | 'quagga'>].daemon} answering`;
  if ('running' in r) {
    const { asn, networks, routeMaps } = r.running;
    if (!frrLike) return ok(id, title, `local AS ${asn ?? '(none)'}, ${networks.length} route${networks.length === 1 ? '' : 's'} announced`);
    const what = asn === null ? 'no router bgp' : `router bgp ${asn}`;
    return ok('bgpd', title, `${what}, ${networks.length} network statement${networks.length === 1 ? '' : 's'}, ${routeMaps.length} route-map${routeMaps.length === 1 ? '' : 's'}`);
  }
  if (!frrLike) {
    const { detail, fix } = splitFix(r.error.message, startFix(ctx));
    return bad('fail', id, title, detail, fix);
  }
  const { code, message } = r.error;
  let fallback: string;
  if (code === 'VIP_E_SPEAKER_MISSING') fallback = `apt-get install frr, or set bgp.vtysh to its full path`;
  else if (code === 'VIP_E_SPEAKER_LOCKED') fallback = 'wait for the other vtysh session to leave configure mode';
  else if (/may not talk|permission|privileged/i.test(message)) fallback = 'run vip-mgmt as root or as a member of the frrvty group';
  else fallback = startFix(ctx);
  const { detail, fix } = splitFix(message, fallback);
  return bad('fail', 'bgpd', title, detail, fix);
}

/** `router bgp N` against datacenters[dc].asn: add/delete talk to the instance of this DC's AS. */
export function asnCheck(running: RunningBgp, dc: string, expected: number): Check {
  const title = 'router bgp matches the config';
  if (running.asn === null) {
    return bad('fail', 'asn', title, `bgpd has no router bgp instance (datacenters.${dc}.asn is ${expected})`, `vip-mgmt render --dc ${dc} > /etc/frr/vip-mgmt.conf and load it (or configure router bgp ${expected})`);
  }
  if (running.asn !== expected) {
    return bad(
      'fail',
      'asn',
      title,
      `bgpd runs router bgp ${running.asn}, the config says datacenters.${dc}.asn: ${expected}`,
      `fix datacenters.${dc}.asn (or dc) in the config, or the router bgp ASN in FRR`,
    );
  }
  return ok('asn', title, `router bgp ${expected} (dc ${dc})`);
}

/** The route-maps this DC needs: VIP-RANK-r for every rank its services use (r = index of dc in
 *  prefer), and VIP-RANK-0 for `-a` of a literal address or an unlisted name. */
export function neededRouteMaps(config: Pick<Config, 'dc' | 'services'>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of config.services) {
    const r = rankOf(s, config.dc);
    if (r === null) continue;
    const name = routeMapName(r);
    out.set(name, [...(out.get(name) ?? []), s.name]);
  }
  return out;
}

/** FRR silently drops a `network` whose route-map does not exist: every rank in use must be there,
 *  and VIP-DRAIN where the watchdog demotes (warned about otherwise: -d --graceful needs it). */
export function routeMapCheck(config: Pick<Config, 'dc' | 'services'> & { watchdog?: Pick<Config['watchdog'], 'down_action'> }, running: RunningBgp): Check {
  const title = 'route-maps present';
  const need = neededRouteMaps(config);
  const demote = config.watchdog?.down_action === 'demote';
  if (demote) need.set(DRAIN_ROUTE_MAP, ['watchdog.down_action: demote']);
  const have = new Set(running.routeMaps);
  const fix = `vip-mgmt render --dc ${config.dc} > /etc/frr/vip-mgmt.conf and load it into FRR`;
  const missing = [...need].filter(([m]) => !have.has(m)).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
  if (missing.length > 0) {
    const which = missing.map(([m, names]) => `${m} (used by ${names.join(', ')})`).join(', ');
    return bad('fail', 'route-maps', title, `missing ${which}: FRR silently drops a network whose route-map does not exist`, fix);
  }
  if (!have.has(routeMapName(0))) {
    return bad('warn', 'route-maps', title, `${routeMapName(0)} missing: vip-mgmt -a of a literal address or an unlisted name will be refused`, fix);
  }
  if (!have.has(DRAIN_ROUTE_MAP)) {
    return bad('warn', 'route-maps', title, `${DRAIN_ROUTE_MAP} missing: vip-mgmt -d --graceful will be refused`, fix);
  }
  const present = [...new Set([routeMapName(0), ...need.keys(), DRAIN_ROUTE_MAP])].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return ok('route-maps', title, present.join(', '));
}

// ---- BGP neighbors --------------------------------------------------------------------------------

export interface BgpNeighbor {
  /** neighbor address (or interface name for an unnumbered peer) */
  peer: string;
  remoteAs: number | null;
  hostname: string | null;
  /** FRR's session state: "Established", "Idle", "Idle (Admin)", "Active", "Connect", ... */
  state: string;
  /** time in the current state, as FRR prints it ("00:01:02", "never") */
  upDown: string | null;
  /** address families the neighbor is shown in ("ipv4Unicast", ...) */
  families: string[];
  prefixesReceived: number | null;
}

/** `show bgp summary json` (FRR 7+): one object per address family, peers inside; the same peer
 *  shows in each family it is active in. `{}` when bgpd has no BGP instance. */
export function parseBgpSummaryJson(text: string): BgpNeighbor[] {
  const doc = JSON.parse(text) as Record<string, unknown>;
  const byPeer = new Map<string, BgpNeighbor>();
  for (const [family, af] of Object.entries(doc ?? {})) {
    const peers = (af as { peers?: Record<string, Record<string, unknown>> } | null)?.peers;
    if (!peers || typeof peers !== 'object') continue;
    for (const [peer, p] of Object.entries(peers)) {
      const seen = byPeer.get(peer);
      if (seen) {
        if (!seen.families.includes(family)) seen.families.push(family);
        continue;
      }
      byPeer.set(peer, {
        peer,
        remoteAs: typeof p.remoteAs === 'number' ? p.remoteAs : null,
        hostname: typeof p.hostname === 'string' ? p.hostname : null,
        state: typeof p.state === 'string' ? p.state : 'unknown',
        upDown: typeof p.peerUptime === 'string' ? p.peerUptime : null,
        families: [family],
        prefixesReceived: typeof p.pfxRcd === 'number' ? p.pfxRcd : null,
      });
    }
  }
  return [...byPeer.values()];
}

/**
 * `show ip bgp summary` text (Quagga; FRR prints the same table): rows under the "Neighbor" header,
 * `Neighbor V AS MsgRcvd MsgSent TblVer InQ OutQ Up/Down State/PfxRcd [PfxSnt Desc]`; a number in
 * the State/PfxRcd column means Established. A long neighbor name wraps onto its own line.
 */
export function parseBgpSummaryText(text: string, family = 'ipv4Unicast'): BgpNeighbor[] {
  const out: BgpNeighbor[] = [];
  let inTable = false;
  let carry = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (/^Neighbor\s+V\s+AS\b/.test(line)) {
      inTable = true;
      continue;
    }
    if (!inTable) continue;
    if (line.trim() === '' || /^Total number of neighbors/.test(line)) {
      inTable = false;
      continue;
    }
    const words = (carry ? `${carry} ${line.trim()}` : line.trim()).split(/\s+/);
    if (words.length === 1) {
      carry = words[0]!;
      continue;
    }
    carry = '';
    if (words.length < 10) continue;
    const m = /^(.*)\((.+)\)$/.exec(words[0]!); // FRR: hostname(address)
    const peer = m ? m[2]! : words[0]!;
    const hostname = m ? m[1]! : null;
    const as = Number(words[2]);
    const upDown = words[8]!;
    // "Idle (Admin)", "Idle (PfxCt)": the state can take two words; FRR adds PfxSnt and Desc after it
    let state = words[9]!;
    if (words[10]?.startsWith('(')) state = `${state} ${words[10]}`;
    const established = /^\d+$/.test(state);
    out.push({
      peer,
      remoteAs: Number.isFinite(as) ? as : null,
      hostname,
      state: established ? 'Established' : state,
      upDown,
      families: [family],
      prefixesReceived: established ? Number(state) : null,
    });
  }
  return out;
}

/** What the BIRD adapter finds of its include and of BIRD's BGP protocols, for birdIncludeCheck. */
export interface BirdIncludeReport {
  include: string;
  /** null when the file cannot be read (why in `error`) */
  routes: number | null;
  hasFilter: boolean;
  error: string | null;
  /** BGP protocols BIRD runs whose channels export with another filter than vip_mgmt_export */
  withoutFilter: string[];
  bgpProtocols: number;
}

/** BIRD: the include vip-mgmt owns is there and defines vip_mgmt_export, and every BGP protocol
 *  BIRD runs exports with it (a session with another filter never carries the VIPs). */
export function birdIncludeCheck(r: BirdIncludeReport): Check {
  const id = 'bird-include';
  const title = 'BIRD include and export filter';
  if (r.error !== null) {
    return bad('fail', id, title, `${r.include}: ${r.error}`, `vip-mgmt render > ${r.include}; then include "${r.include}"; in bird.conf and birdc configure`);
  }
  if (!r.hasFilter) return bad('fail', id, title, `${r.include} defines no filter vip_mgmt_export (not written by vip-mgmt?)`, `vip-mgmt render > ${r.include}, then birdc configure`);
  if (r.bgpProtocols === 0) return bad('fail', id, title, 'BIRD runs no BGP protocol', 'add the BGP sessions to the routers to bird.conf (README "BIRD"), each with export filter vip_mgmt_export;');
  if (r.withoutFilter.length > 0) {
    return bad('fail', id, title, `BGP protocol${r.withoutFilter.length === 1 ? '' : 's'} ${r.withoutFilter.join(', ')} export${r.withoutFilter.length === 1 ? 's' : ''} with another filter: the VIPs never reach ${r.withoutFilter.length === 1 ? 'that peer' : 'those peers'}`, 'set export filter vip_mgmt_export; in their channels, then birdc configure');
  }
  return ok(id, title, `${r.include}: ${r.routes} route${r.routes === 1 ? '' : 's'}; ${r.bgpProtocols} BGP protocol${r.bgpProtocols === 1 ? '' : 's'} export with vip_mgmt_export`);
}

/** One line per neighbor: only an Established session carries the VIPs to the router. */
export function neighborChecks(neighbors: BgpNeighbor[]): Check[] {
  if (neighbors.length === 0) {
    return [bad('fail', 'neighbors', 'BGP neighbors', 'no neighbor configured: the VIPs reach no router', 'configure the routers as neighbors under router bgp (see README, FRR configuration)')];
  }
  return neighbors.map((n) => {
    const id = `neighbor:${n.peer}`;
    const who = `neighbor ${n.peer}${n.hostname ? ` (${n.hostname})` : ''}`;
    const as = n.remoteAs === null ? '' : `AS ${n.remoteAs}, `;
    const fams = n.families.join('+');
    if (n.state === 'Established') {
      return ok(id, who, `${as}Established ${n.upDown ?? ''}`.trim() + `${n.prefixesReceived === null ? '' : `, ${n.prefixesReceived} prefixes received`}, ${fams}`);
    }
    const since = n.upDown && n.upDown !== 'never' ? ` for ${n.upDown}` : n.upDown === 'never' ? ', never established' : '';
    if (/\(Admin\)/.test(n.state)) {
      return bad('warn', id, who, `${as}${n.state}${since}: shut down on purpose`, `vtysh -c 'conf t' -c 'router bgp' -c 'no neighbor ${n.peer} shutdown' when the maintenance is over`);
    }
    return bad(
      'fail',
      id,
      who,
      `${as}${n.state}${since}: routes are not exchanged`,
      `check the link and the router's side (ping ${n.peer}; its neighbor statement for this host; vtysh -c 'show bgp neighbors ${n.peer}' for the last error)`,
    );
  });
}

// ---- VIPs on local interfaces --------------------------------------------------------------------

export interface VipSource {
  vip: Vip;
  /** service names that resolve to it, and/or "network in bgpd" */
  from: string[];
}

/**
 * The VIPs this host must hold on a local interface: every address of every service this DC
 * announces, and every network statement inside vip_prefixes (e.g. one added with -a ADDRESS).
 * Addresses outside vip_prefixes are never announced, so they are left out here.
 */
export function vipsToHold(
  config: Pick<Config, 'dc' | 'services' | 'vip_prefixes'>,
  resolved: ResolvedName[],
  running: RunningBgp | null,
): VipSource[] {
  const out = new Map<string, VipSource>();
  const add = (vip: Vip, from: string): void => {
    const seen = out.get(vip.prefix);
    if (!seen) out.set(vip.prefix, { vip, from: [from] });
    else if (!seen.from.includes(from)) seen.from.push(from);
  };
  for (const t of dcPolicy(config, config.dc, resolved).targets.values()) for (const name of t.names) add(t.vip, name);
  for (const n of running?.networks ?? []) {
    const host = /^(.*)\/(32|128)$/.exec(n.prefix);
    if (!host || !parseAddress(host[1]!)) continue;
    const vip = toVip(host[1]!);
    if (vip.prefix === n.prefix && insideAny(vip, config.vip_prefixes)) add(vip, 'network in bgpd');
  }
  return [...out.values()].sort((a, b) => compareVips(a.vip, b.vip));
}

/** FRR's import check keeps a `network` out of the BGP table unless the address is in the RIB, i.e.
 *  on a local interface (usually lo). One ok line for all that are, one fail line per missing one. */
export function vipLocalChecks(vips: VipSource[], localAddresses: readonly string[]): Check[] {
  const title = 'VIPs on a local interface';
  const local = new Set(localAddresses.map((a) => parseAddress(a)?.address ?? a));
  const present = vips.filter((v) => local.has(v.vip.address));
  const missing = vips.filter((v) => !local.has(v.vip.address));
  const out: Check[] = [];
  if (missing.length === 0) {
    out.push(ok('vip-local', title, vips.length === 0 ? 'no VIPs to hold' : `${present.length} of ${vips.length}`));
  } else if (present.length > 0) {
    out.push(ok('vip-local', title, `${present.length} of ${vips.length} (missing ones below)`));
  }
  for (const v of missing) {
    out.push(
      bad(
        'fail',
        `vip-local:${v.vip.prefix}`,
        `VIP ${v.vip.address} on a local interface`,
        `${v.vip.address} (${v.from.join(', ')}) is on no local interface: FRR's import check keeps it out of the BGP table, so it is not announced`,
        `ip ${v.vip.family === 6 ? '-6 ' : ''}addr add ${v.vip.prefix} dev lo${v.vip.family === 6 ? ' nodad' : ''} (and make it persistent in the interfaces config)`,
      ),
    );
  }
  return out;
}

// ---- DNS ------------------------------------------------------------------------------------------

/** One configured (or resolv.conf) server asked one question on its own. */
export function dnsServerCheck(server: string, asked: string, r: { addresses: string[]; ms: number } | { error: Failure }, source: string): Check {
  const id = `dns-server:${server}`;
  const title = `DNS server ${server} answering`;
  if ('addresses' in r) return ok(id, title, `${asked}: ${r.addresses.join(', ') || 'no address'} in ${Math.round(r.ms)} ms`);
  const { code, message } = r.error;
  // a server that says NXDOMAIN or "no address" is answering: the name check says the rest
  if (code === 'VIP_E_DNS_NXDOMAIN' || code === 'VIP_E_DNS_NO_ADDRESS') {
    const { detail, fix } = splitFix(message, 'fix the records');
    return bad('warn', id, title, `answers, but ${detail}`, fix);
  }
  const what = code === 'VIP_E_DNS_TIMEOUT' ? 'no answer' : code.replace('VIP_E_DNS_', '').toLowerCase().replace(/_/g, ' ');
  return bad('fail', id, title, `${what} for ${asked}`, `check that the server runs and this host may query it, or remove it from ${source}`);
}

export function noDnsServerCheck(source: string): Check {
  return bad('fail', 'dns-servers', 'DNS servers configured', `dns.servers is empty and ${source} lists no usable nameserver`, 'set dns.servers in the config');
}

/** Each service name through the configured resolver (every server, as add/delete/watchdog do). */
export function serviceDnsCheck(name: string, r: ResolvedName | { error: Failure }, config: Pick<Config, 'dc' | 'services' | 'vip_prefixes'>): Check {
  const id = `dns:${name}`;
  const title = `${name} resolves`;
  if ('error' in r) {
    const { detail, fix } = splitFix(r.error.message, 'fix the DNS records or services[].name');
    return bad('fail', id, title, detail, fix);
  }
  const outside = r.addresses.filter((a) => !insideAny(toVip(a), config.vip_prefixes));
  const via = r.chain.length > 0 ? ` via ${r.chain.join(' -> ')}` : '';
  if (outside.length > 0) {
    return bad(
      'warn',
      id,
      title,
      `${r.addresses.join(', ')}${via}; ${outside.join(', ')} outside vip_prefixes: never announced`,
      'fix the DNS records, or add the range to vip_prefixes if it really is yours',
    );
  }
  const s = config.services.find((x) => x.name === name);
  const note = s && !s.prefer.includes(config.dc) ? ` (dc ${config.dc} is not in its prefer list: not announced here)` : '';
  return ok(id, title, `${r.addresses.join(', ') || 'no address'}${via}${note}`);
}

// ---- IPVS, state, schedule ------------------------------------------------------------------------

export function ipvsCheck(r: { source: string; services: number; vips: number; warnings: string[] } | { error: Failure }): Check {
  const title = 'IPVS table readable';
  if ('error' in r) {
    const { detail, fix } = splitFix(r.error.message, 'check watchdog.ipvs in the config (source, path) and that the ip_vs module is loaded');
    return bad('fail', 'ipvs', title, `${detail} (the watchdog fails static: it changes nothing)`, fix);
  }
  const what = `${r.source}: ${r.services} virtual service${r.services === 1 ? '' : 's'}, ${r.vips} VIP${r.vips === 1 ? '' : 's'}`;
  if (r.warnings.length > 0) return bad('warn', 'ipvs', title, `${what}; ${r.warnings.length} line(s) not understood: ${r.warnings[0]}`, 'report the line with the output of ipvsadm -S -n');
  return ok('ipvs', title, what);
}

/** A held VIP must not be configured: FRR reloaded from an old snippet, or a withdraw that failed,
 *  puts a drained VIP back on the air until the next watchdog cycle takes it out again. */
export function heldCheck(holds: Readonly<Record<string, Hold>>, running: RunningBgp): Check {
  const title = 'held VIPs withdrawn';
  const configured = new Set(running.networks.map((n) => n.prefix));
  const back = Object.keys(holds).filter((p) => configured.has(p)).sort();
  if (back.length === 0) return ok('holds', title, `${Object.keys(holds).length} hold(s), none configured in bgpd`);
  const list = back.map((p) => `${p} (${holds[p]!.reason}, by ${holds[p]!.by})`).join(', ');
  return bad(
    'fail',
    'holds',
    title,
    `held for maintenance but configured in bgpd: ${list}`,
    `vip-mgmt -d ${back.map((p) => p.split('/')[0]).join(' ')} to withdraw again (the watchdog does so on its next cycle); reload FRR only from a fresh vip-mgmt render`,
  );
}

export function stateDirCheck(dir: string, r: { writable: true; exists: boolean; holds: number | null; stateError?: Failure } | { error: string }): Check {
  const title = 'state_dir writable';
  if ('error' in r) return bad('fail', 'state-dir', title, `${dir}: ${r.error}`, `create ${dir} writable by the user running vip-mgmt (root), or set state_dir`);
  if (r.stateError) {
    const { detail, fix } = splitFix(r.stateError.message, `inspect ${dir}/state.json`);
    return bad('fail', 'state-dir', title, detail, fix);
  }
  if (!r.exists) return ok('state-dir', title, `${dir} does not exist yet; its parent is writable, the first run creates it`);
  const holds = r.holds === null ? '' : `, ${r.holds} maintenance hold${r.holds === 1 ? '' : 's'}`;
  return ok('state-dir', title, `${dir}${holds}`);
}

/** A cron.d line or unit that runs the watchdog: `vip-mgmt ... watchdog` not commented out. */
export function mentionsWatchdog(text: string): boolean {
  return text.split('\n').some((l) => !/^\s*#/.test(l) && /vip-mgmt\S*\s(?:.*\s)?watchdog\b/.test(l));
}

export interface ScheduleEntry {
  path: string;
  /** cron: a cron.d file or crontab line; timer: vip-mgmt-watchdog.timer; daemon: vip-mgmt-watchdogd.service */
  kind: 'cron' | 'timer' | 'daemon';
  /** cron entries always run; a systemd unit only once enabled (a symlink in some *.wants/) */
  enabled: boolean;
}

/** Where the watchdog is scheduled. `ignoredCron`: cron.d files that run it but that cron skips
 *  (Debian's cron runs only names made of letters, digits, "_" and "-"). */
export function scheduleCheck(found: ScheduleEntry[], ignoredCron: string[] = []): Check {
  const id = 'schedule';
  const title = 'watchdog scheduled';
  const active = found.filter((f) => f.enabled);
  const list = (xs: ScheduleEntry[]) => xs.map((f) => `${f.kind} ${f.path}`).join(', ');
  const daemon = active.filter((f) => f.kind === 'daemon');
  const periodic = active.filter((f) => f.kind !== 'daemon');
  if (daemon.length > 0 && periodic.length > 0) {
    return bad(
      'warn',
      id,
      title,
      `both a daemon and a periodic run are active (${list(active)}): they take turns on the same lock`,
      'keep one: systemctl disable --now vip-mgmt-watchdogd.service, or remove the cron entry / disable vip-mgmt-watchdog.timer',
    );
  }
  if (active.length > 0) return ok(id, title, list(active));
  if (found.length > 0) {
    const unit = found[0]!.kind === 'daemon' ? 'vip-mgmt-watchdogd.service' : 'vip-mgmt-watchdog.timer';
    return bad('warn', id, title, `installed but not enabled: ${list(found)}`, `systemctl enable --now ${unit}`);
  }
  if (ignoredCron.length > 0) {
    const f = ignoredCron[0]!;
    return bad('warn', id, title, `${ignoredCron.join(', ')} runs the watchdog, but cron skips files whose names contain dots or characters other than letters, digits, "_" and "-"`, `rename it: mv ${f} ${f.replace(/[^/]*$/, 'vip-mgmt')}`);
  }
  return bad(
    'warn',
    id,
    title,
    'no cron entry and no enabled vip-mgmt-watchdog timer or daemon: nothing withdraws a VIP whose real servers are gone',
    'vip-mgmt cron > /etc/cron.d/vip-mgmt (or systemctl enable --now vip-mgmt-watchdog.timer)',
  );
}

/** cron.d file names that Debian's cron (run-parts rules) actually reads. */
export const cronNameRuns = (name: string): boolean => /^[A-Za-z0-9_-]+$/.test(name);

export function configCheck(path: string, r: { services: number; dc: string } | { error: Failure }): Check {
  const title = 'config valid';
  if ('error' in r) {
    const { detail, fix } = splitFix(r.error.message, `vip-mgmt config check -c ${path} lists every problem`);
    return bad('fail', 'config', title, detail, fix);
  }
  return ok('config', title, `${path} (dc ${r.dc}, ${r.services} service${r.services === 1 ? '' : 's'})`);
}

// ---- fleet (etcd) ------------------------------------------------------------------------------------

export interface FleetProbe {
  endpoints: { endpoint: string; ok: boolean; version?: string; leader?: string; memberId?: string; skewMs?: number | null; error?: string }[];
  /** a linearizable read of the fleet: proves a quorum answers; how many host records it saw */
  read: { ms: number; hosts: number; holds: number; self: boolean } | { error: Failure };
  host: string;
  dc: string;
  leaseTtlMs: number;
  /** TLS files: days left (negative: expired), or why they could not be read */
  certs: { role: 'ca' | 'cert'; path: string; days?: number; validTo?: string; error?: string }[];
}

/** Clock skew worth a warning: the Date header has 1 s resolution, so below 2 s is noise. */
export const SKEW_WARN_MS = 2000;
export const CERT_WARN_DAYS = 30;

/** doctor's fleet checks: each endpoint, the quorum, clock skew against the members, this host's
 *  record, certificate expiry. */
export function fleetChecks(p: FleetProbe): Check[] {
  const out: Check[] = [];
  for (const e of p.endpoints) {
    const id = `etcd:${e.endpoint}`;
    if (e.ok) out.push(ok(id, `etcd member ${e.endpoint}`, `etcd ${e.version}, member ${e.memberId}, ${e.leader && e.leader !== '0' ? `leader ${e.leader}` : 'NO LEADER'}`));
    else out.push(bad('warn', id, `etcd member ${e.endpoint}`, e.error ?? 'no answer', 'check that the member runs and this host reaches it (the fleet works while a quorum does)'));
  }
  const n = p.endpoints.length;
  const up = p.endpoints.filter((e) => e.ok && e.leader && e.leader !== '0').length;
  if ('error' in p.read) {
    out.push(bad('fail', 'etcd-quorum', 'etcd quorum', `${up} of ${n} members answer with a leader; a linearizable read failed: ${p.read.error.message}`, 'bring members back until a majority runs (fleet writes exit 8 meanwhile; routes are not changed because of it)'));
  } else {
    out.push(ok('etcd-quorum', 'etcd quorum', `${up} of ${n} members answer with a leader; a linearizable read took ${Math.round(p.read.ms)} ms (${p.read.hosts} hosts, ${p.read.holds} fleet holds)`));
    if (p.read.self) out.push(ok('fleet-record', 'this host in the fleet', `${p.dc}/${p.host} is published`));
    else out.push(bad('warn', 'fleet-record', 'this host in the fleet', `${p.dc}/${p.host} has no live record (never published, or its lease of ${p.leaseTtlMs / 1000}s ran out)`, 'run vip-mgmt watchdog (the cron entry or the daemon publishes every cycle)'));
  }
  const skews = p.endpoints.filter((e) => typeof e.skewMs === 'number') as { endpoint: string; skewMs: number }[];
  if (skews.length > 0) {
    const worst = skews.reduce((a, b) => (Math.abs(b.skewMs) > Math.abs(a.skewMs) ? b : a));
    const text = `largest offset ${(worst.skewMs / 1000).toFixed(1)} s against ${worst.endpoint} (HTTP Date header, 1 s resolution)`;
    if (Math.abs(worst.skewMs) < SKEW_WARN_MS) out.push(ok('clock-skew', 'clock against the etcd members', text));
    else out.push(bad(Math.abs(worst.skewMs) > p.leaseTtlMs / 4 ? 'fail' : 'warn', 'clock-skew', 'clock against the etcd members', text, 'run NTP (chrony, systemd-timesyncd): status --fleet compares last-seen times across hosts'));
  }
  for (const c of p.certs) {
    const id = `tls-${c.role}`;
    const title = `TLS ${c.role === 'ca' ? 'CA certificate' : 'client certificate'} ${c.path}`;
    if (c.error !== undefined || c.days === undefined) out.push(bad('fail', id, title, c.error ?? 'unreadable', 'fix fleet.etcd.tls'));
    else if (c.days < 0) out.push(bad('fail', id, title, `expired on ${c.validTo}`, 'renew it'));
    else if (c.days < CERT_WARN_DAYS) out.push(bad('warn', id, title, `expires in ${Math.floor(c.days)} days (${c.validTo})`, 'renew it'));
    else out.push(ok(id, title, `valid until ${c.validTo} (${Math.floor(c.days)} days)`));
  }
  return out;
}

// ---- result -----------------------------------------------------------------------------------------

export interface DoctorReport {
  checks: Check[];
  /** checks left out because the BGP speaker did not answer */
  speakerUnavailable: boolean;
  /** the config did not load: nothing else was checked */
  configInvalid?: boolean;
}

/** 0 when nothing failed (warnings allowed), 3 when the config does not load, 1 for any failure
 *  (the speaker being unavailable included: doctor reports, it does not fail with exit 6). */
export function doctorExit(r: DoctorReport): number {
  if (r.configInvalid) return EXIT.CONFIG;
  return r.checks.some((c) => c.verdict === 'fail') ? EXIT.FAILED : EXIT.OK;
}

const TAG: Record<Verdict, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

export function formatCheck(c: Check): string {
  return `${TAG[c.verdict]} ${c.title}: ${c.detail}${c.fix ? ` -> fix: ${c.fix}` : ''}`;
}

/** The text report: one line per check, then a summary line. */
export function formatReport(r: DoctorReport): string {
  const lines = r.checks.map(formatCheck);
  const n = (v: Verdict) => r.checks.filter((c) => c.verdict === v).length;
  const fails = n('fail');
  const warns = n('warn');
  let summary = `${r.checks.length} checks: ${n('ok')} ok, ${warns} warning${warns === 1 ? '' : 's'}, ${fails} failed`;
  if (r.configInvalid) summary += '; the config does not load, nothing else was checked';
  else if (r.speakerUnavailable) summary += '; the BGP speaker is unavailable, so neighbors, router bgp and route-maps were not checked';
  return [...lines, summary].join('\n');
}

/** `doctor --json`: {"checks": [...], "ok": bool} (ok: nothing failed; warnings allowed). */
export function reportJson(r: DoctorReport): { checks: Check[]; ok: boolean; speakerUnavailable: boolean } {
  return {
    checks: r.checks.map((c) => ({ id: c.id, title: c.title, verdict: c.verdict, detail: c.detail, ...(c.fix ? { fix: c.fix } : {}) })),
    ok: !r.checks.some((c) => c.verdict === 'fail'),
    speakerUnavailable: r.speakerUnavailable,
  };
}
