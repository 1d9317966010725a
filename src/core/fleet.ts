// Fleet mode, the pure part: the etcd key layout, what a host publishes, which fleet holds bind this DC, and the last-DC guard.
//
// adapters/etcd.ts moves these records in and out of etcd; cli/ decides when. Everything that is a
// decision (is this host healthy for that VIP? would this withdrawal leave a VIP announced by no
// healthy host anywhere?) lives here, so the watchdog, -a/-d and status agree by construction.
import { DRAIN_ROUTE_MAP } from './policy.js';
import type { Hold, RunningBgp, State, WatchdogStateName } from './types.js';

/** Version of the key layout and of the records under it; a new layout gets a new segment. */
export const FLEET_LAYOUT = 'v1';

/** `<prefix>v1/hosts/` : one key per host, `<dc>/<host>`, under the host's lease. */
export const hostsPrefix = (prefix: string) => `${prefix}${FLEET_LAYOUT}/hosts/`;
/** `<prefix>v1/holds/` : one key per fleet hold, `<dc>/<name>`, no lease (a hold lasts until cleared). */
export const holdsPrefix = (prefix: string) => `${prefix}${FLEET_LAYOUT}/holds/`;
export const hostKey = (prefix: string, dc: string, host: string) => `${hostsPrefix(prefix)}${dc}/${host}`;
/** `<prefix>v1/seen/` : one small key per host, `<dc>/<host>`, rewritten every run under the same
 *  lease: when it ran last, and the digest of its record (the record is rewritten only when it changes). */
export const seenPrefix = (prefix: string) => `${prefix}${FLEET_LAYOUT}/seen/`;
export const seenKey = (prefix: string, dc: string, host: string) => `${seenPrefix(prefix)}${dc}/${host}`;

/** The value of `<prefix>v1/seen/<dc>/<host>`. */
export interface SeenRecord {
  v: 1;
  /** the host's last run (its clock) */
  at: string;
  /** digest of the host record's content (core/fleet.ts recordDigest) */
  digest: string;
  /** the lease both keys live under, and its TTL in seconds */
  lease: string;
  ttl: number;
}

/** The content of a record that is worth rewriting: everything but the time it was published. */
export function recordBody(rec: HostRecord): string {
  const { at: _at, ...body } = rec;
  return JSON.stringify(body);
}

export function parseSeen(text: string): SeenRecord | null {
  try {
    const s = JSON.parse(text) as SeenRecord;
    if (s?.v !== 1 || typeof s.at !== 'string' || typeof s.digest !== 'string' || typeof s.lease !== 'string' || typeof s.ttl !== 'number') return null;
    return s;
  } catch {
    return null;
  }
}
export const holdKey = (prefix: string, dc: string, name: string) => `${holdsPrefix(prefix)}${dc}/${name}`;
/** `<prefix>v1/leaving/` : one key per host, `<dc>/<host>`, under a lease of its own, while a run of
 *  that host withdraws VIPs past the last-DC guard. Written BEFORE the run reads the fleet, removed
 *  once its new record is published (else it expires with its lease). */
export const leavingPrefix = (prefix: string) => `${prefix}${FLEET_LAYOUT}/leaving/`;
export const leavingKey = (prefix: string, dc: string, host: string) => `${leavingPrefix(prefix)}${dc}/${host}`;

/** The value of `<prefix>v1/leaving/<dc>/<host>`: the VIPs a run of that host is about to withdraw. */
export interface LeavingIntent {
  v: 1;
  dc: string;
  host: string;
  prefixes: string[];
  /** when the run wrote it (its clock) */
  at: string;
  /** watchdog | delete */
  by: string;
}

export function parseLeaving(text: string): LeavingIntent | null {
  try {
    const l = JSON.parse(text) as LeavingIntent;
    if (l?.v !== 1 || typeof l.dc !== 'string' || typeof l.host !== 'string' || !Array.isArray(l.prefixes) || !l.prefixes.every((p) => typeof p === 'string')) return null;
    return l;
  } catch {
    return null;
  }
}

/** One VIP as a host publishes it. */
export interface PublishedVip {
  /** route-map it is announced with; null: not announced by this host */
  routeMap: string | null;
  /** live real servers at the host's last cycle (null: not counted, or not known) */
  live: number | null;
  /** the watchdog state at the host's last cycle (null: the watchdog never saw it) */
  state: WatchdogStateName | null;
  hold?: PublishedHold;
  /** never published: set by withLeaving while that host's run withdraws it */
  leaving?: true;
}

export interface PublishedHold {
  source: 'local' | 'fleet';
  reason: string;
  by: string;
  since: string;
}

/** The value of `<prefix>v1/hosts/<dc>/<host>`. */
export interface HostRecord {
  v: 1;
  host: string;
  dc: string;
  /** when the run that published this finished (ISO 8601, the host's clock) */
  at: string;
  /** what published it: watchdog | add | delete */
  by: string;
  vips: Record<string, PublishedVip>; // keyed by prefix
}

/** The value of `<prefix>v1/holds/<dc>/<name>`: a maintenance hold for a whole DC. */
export interface FleetHold {
  v: 1;
  dc: string;
  /** the NAME as the operator gave it (DNS name or literal address) */
  name: string;
  /** the VIPs NAME resolved to where the hold was set, as host prefixes */
  prefixes: string[];
  reason: string;
  /** user@host */
  by: string;
  since: string;
  /** set with --force past the last-DC guard */
  forced?: boolean;
}

/** The key segment of a NAME: lower case, no trailing dot; "/" cannot occur (names and addresses). */
export const holdName = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** What this host publishes after a run: every VIP it announces, watches or holds. */
export function hostRecord(input: {
  host: string;
  dc: string;
  at: Date;
  by: string;
  running: Pick<RunningBgp, 'networks'>;
  state: Pick<State, 'holds' | 'watchdog'>;
  fleetHolds?: Record<string, Hold>;
  inside: (prefix: string) => boolean;
}): HostRecord {
  const { running, state } = input;
  const fleet = input.fleetHolds ?? {};
  const vips: Record<string, PublishedVip> = {};
  const announced = new Map(running.networks.map((n) => [n.prefix, n.routeMap]));
  const prefixes = new Set([...announced.keys(), ...Object.keys(state.watchdog), ...Object.keys(state.holds), ...Object.keys(fleet)]);
  for (const p of [...prefixes].sort()) {
    if (!input.inside(p)) continue;
    const w = state.watchdog[p];
    const local = state.holds[p];
    const f = fleet[p];
    const h = local ? { source: 'local' as const, ...local } : f ? { source: 'fleet' as const, ...f } : undefined;
    vips[p] = {
      routeMap: announced.has(p) ? (announced.get(p) ?? '') : null,
      live: w?.live ?? null,
      state: w?.state ?? null,
      ...(h ? { hold: { source: h.source, reason: h.reason, by: h.by, since: h.since } } : {}),
    };
  }
  return { v: 1, host: input.host, dc: input.dc, at: input.at.toISOString(), by: input.by, vips };
}

/** Is HOST a healthy announcer of PREFIX? Announced with a rank route-map (not demoted with
 *  VIP-DRAIN), not held, and its watchdog not on the way down (down, falling) nor counting 0 live. */
export function healthyFor(host: HostRecord, prefix: string): boolean {
  const v = host.vips[prefix];
  if (!v || v.routeMap === null || v.routeMap === DRAIN_ROUTE_MAP || v.hold || v.leaving) return false;
  if (v.state === 'down' || v.state === 'falling' || v.state === 'held') return false;
  return v.live !== 0;
}

/** Why HOST is not a healthy announcer of PREFIX (for the refusal message). */
export function notHealthyWhy(host: HostRecord, prefix: string): string {
  const v = host.vips[prefix];
  if (v?.hold) return `held (${v.hold.source}: ${v.hold.reason})`;
  if (v?.leaving) return 'withdrawing it at this moment (its run announced so)';
  if (!v || v.routeMap === null) return 'not announcing';
  if (v.routeMap === DRAIN_ROUTE_MAP) return 'demoted (VIP-DRAIN)';
  if (v.state === 'down' || v.state === 'falling') return `watchdog ${v.state}, live ${v.live ?? '?'}`;
  if (v.live === 0) return 'live 0';
  return 'healthy';
}

export const hostId = (h: Pick<HostRecord, 'dc' | 'host'>) => `${h.dc}/${h.host}`;

/** One VIP the guard refuses to withdraw: nobody healthy would be left announcing it. */
export interface GuardRefusal {
  prefix: string;
  /** the hosts that would withdraw it */
  leaving: string[];
  /** every other published host that lists it, and why it does not count */
  others: { host: string; why: string }[];
}

/**
 * The last-DC guard (fleet.guard: last_dc): of PREFIXES, the ones that would be announced by no
 * healthy host anywhere once the hosts for which LEAVING is true stop announcing them. HOSTS is the
 * published state; a host whose lease expired is simply not there. A prefix none of the remaining
 * hosts announce healthily is refused only when a leaving host announces it now (withdrawing what
 * is not announced changes nothing); `leavingAnnounces` says so for hosts that know better than
 * their last record (this host's running config).
 */
export function lastDcGuard(
  hosts: HostRecord[],
  prefixes: string[],
  leaving: (h: Pick<HostRecord, 'dc' | 'host'>) => boolean,
  leavingAnnounces?: (prefix: string) => boolean,
): GuardRefusal[] {
  const out: GuardRefusal[] = [];
  for (const p of [...new Set(prefixes)].sort()) {
    const leavers = hosts.filter((h) => leaving(h));
    const announcedByLeaver = leavingAnnounces ? leavingAnnounces(p) : leavers.some((h) => (h.vips[p]?.routeMap ?? null) !== null);
    if (!announcedByLeaver) continue;
    const rest = hosts.filter((h) => !leaving(h));
    if (rest.some((h) => healthyFor(h, p))) continue;
    out.push({
      prefix: p,
      leaving: leavers.filter((h) => (h.vips[p]?.routeMap ?? null) !== null || leavingAnnounces).map(hostId).sort(),
      others: rest.filter((h) => h.vips[p]).map((h) => ({ host: hostId(h), why: notHealthyWhy(h, p) })).sort((a, b) => (a.host < b.host ? -1 : 1)),
    });
  }
  return out;
}

/** The refusal's text: which VIPs, who would withdraw them, who else lists them and why they do not count. */
export function guardMessage(refused: GuardRefusal[], how: string): string {
  const lines = refused.map((r) => {
    const others = r.others.length === 0 ? 'no other host announces it' : r.others.map((o) => `${o.host}: ${o.why}`).join('; ');
    return `${r.prefix} (withdrawn by ${r.leaving.join(', ') || 'this host'}; ${others})`;
  });
  return `last-DC guard: withdrawing would leave ${refused.length} VIP(s) announced by no healthy host in any DC: ${lines.join(', ')}. ${how}`;
}

/** HOSTS as the guard must see them: a VIP under a fleet hold of a host's DC counts as held there
 *  even before that host's next run has withdrawn it (its record still says announced). Without
 *  this, two operators draining the last two DCs at the same moment would each see the other DC
 *  still announcing. */
export function withFleetHolds(hosts: HostRecord[], holds: FleetHold[]): HostRecord[] {
  if (holds.length === 0) return hosts;
  const byDc = new Map<string, Record<string, Hold>>();
  for (const dc of new Set(holds.map((h) => h.dc))) byDc.set(dc, fleetHoldsFor(dc, holds));
  return hosts.map((h) => {
    const fh = byDc.get(h.dc);
    if (!fh) return h;
    const vips = { ...h.vips };
    for (const [p, hold] of Object.entries(fh)) {
      const v = vips[p];
      if (v && !v.hold) vips[p] = { ...v, hold: { source: 'fleet', reason: hold.reason, by: hold.by, since: hold.since } };
    }
    return { ...h, vips };
  });
}

/**
 * HOSTS as the guard must see them while other runs withdraw: a VIP another host has announced it
 * is withdrawing (its intent, written before that run read the fleet) does not count as healthy
 * there. Two DCs whose watchdogs withdraw the same VIP at the same moment each write their intent
 * first and read second, so at least one of them sees the other's: the VIP is never withdrawn
 * everywhere. SELF's own intent is left out (its guard asks about itself leaving anyway).
 */
export function withLeaving(hosts: HostRecord[], intents: LeavingIntent[], self: { dc: string; host: string }): HostRecord[] {
  const others = intents.filter((l) => !(l.dc === self.dc && l.host === self.host));
  if (others.length === 0) return hosts;
  const byHost = new Map(others.map((l) => [hostId(l), l.prefixes]));
  return hosts.map((h) => {
    const prefixes = byHost.get(hostId(h));
    if (!prefixes) return h;
    const vips = { ...h.vips };
    for (const p of prefixes) if (vips[p]) vips[p] = { ...vips[p]!, leaving: true };
    return { ...h, vips };
  });
}

/** The fleet holds that bind DC, as holds keyed by prefix (the oldest hold of a prefix wins, so its
 *  reason is the one shown). */
export function fleetHoldsFor(dc: string, holds: FleetHold[]): Record<string, Hold> {
  const out: Record<string, Hold> = {};
  const mine = holds.filter((h) => h.dc === dc).sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : a.name < b.name ? -1 : 1));
  for (const h of mine) {
    for (const p of h.prefixes) {
      if (!out[p]) out[p] = { reason: h.reason, by: h.by, since: h.since, names: [h.name] };
      else out[p]!.names.push(h.name);
    }
  }
  return out;
}

/** Validate a record read from etcd (another version or a hand-written key must not crash a cycle). */
export function parseHostRecord(text: string): HostRecord | null {
  try {
    const r = JSON.parse(text) as HostRecord;
    if (r?.v !== 1 || typeof r.host !== 'string' || typeof r.dc !== 'string' || typeof r.at !== 'string' || typeof r.vips !== 'object' || r.vips === null) return null;
    return r;
  } catch {
    return null;
  }
}

export function parseFleetHold(text: string): FleetHold | null {
  try {
    const h = JSON.parse(text) as FleetHold;
    if (h?.v !== 1 || typeof h.dc !== 'string' || typeof h.name !== 'string' || !Array.isArray(h.prefixes) || !h.prefixes.every((p) => typeof p === 'string')) return null;
    if (typeof h.reason !== 'string' || typeof h.by !== 'string' || typeof h.since !== 'string') return null;
    return h;
  } catch {
    return null;
  }
}

// ---- status --fleet -----------------------------------------------------------------------------

export interface FleetHostRow {
  dc: string;
  host: string;
  /** the host's last publish (its clock) */
  lastSeen: string;
  /** the last publish is older than half the lease: the host stopped running, or its clock is off */
  stale: boolean;
  by: string;
}

export interface FleetVipHost {
  dc: string;
  host: string;
  announced: boolean;
  routeMap: string | null;
  live: number | null;
  state: WatchdogStateName | null;
  hold: PublishedHold | null;
  healthy: boolean;
  lastSeen: string;
  stale: boolean;
}

export interface FleetVipRow {
  prefix: string;
  /** hosts announcing it healthily (what the guard counts) */
  healthy: number;
  announced: number;
  hosts: FleetVipHost[];
}

export interface FleetStatus {
  hosts: FleetHostRow[];
  holds: FleetHold[];
  vips: FleetVipRow[];
}

/** The fleet as status --fleet shows it: per VIP x DC x host, from the published records. */
export function fleetStatus(hosts: HostRecord[], holds: FleetHold[], now: Date, leaseTtlMs: number, only?: Set<string>): FleetStatus {
  const staleOf = (h: HostRecord) => now.getTime() - Date.parse(h.at) > leaseTtlMs / 2;
  const sorted = [...hosts].sort((a, b) => (hostId(a) < hostId(b) ? -1 : 1));
  const byVip = new Map<string, FleetVipHost[]>();
  for (const h of sorted) {
    const stale = staleOf(h);
    for (const [p, v] of Object.entries(h.vips)) {
      if (only && !only.has(p)) continue;
      const list = byVip.get(p) ?? [];
      list.push({ dc: h.dc, host: h.host, announced: v.routeMap !== null, routeMap: v.routeMap, live: v.live, state: v.state, hold: v.hold ?? null, healthy: healthyFor(h, p), lastSeen: h.at, stale });
      byVip.set(p, list);
    }
  }
  const vips = [...byVip]
    .map(([prefix, list]) => ({ prefix, healthy: list.filter((x) => x.healthy).length, announced: list.filter((x) => x.announced).length, hosts: list }))
    .sort((a, b) => a.healthy - b.healthy || (a.prefix < b.prefix ? -1 : 1));
  return {
    hosts: sorted.map((h) => ({ dc: h.dc, host: h.host, lastSeen: h.at, stale: staleOf(h), by: h.by })),
    holds: [...holds].sort((a, b) => (a.dc + a.name < b.dc + b.name ? -1 : 1)),
    vips,
  };
}

/** One DC's cell for a VIP: "healthy/hosts" and, when not all are healthy, what the others are doing. */
export function dcCell(hosts: FleetVipHost[]): string {
  if (hosts.length === 0) return '-';
  const ok = hosts.filter((h) => h.healthy).length;
  const marks = new Map<string, number>();
  for (const h of hosts) {
    if (h.healthy) continue;
    const m = h.hold ? `held ${h.hold.source}` : h.routeMap === DRAIN_ROUTE_MAP ? 'demoted' : h.state === 'down' || h.state === 'falling' ? h.state : h.announced ? `live ${h.live ?? '?'}` : 'off';
    marks.set(m, (marks.get(m) ?? 0) + 1);
  }
  const rest = [...marks].map(([m, n]) => (hosts.length - ok === n ? m : `${n} ${m}`)).join(', ');
  return `${ok}/${hosts.length}${rest ? ` ${rest}` : ''}${hosts.some((h) => h.stale) ? ' (stale)' : ''}`;
}
