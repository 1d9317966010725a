// Domain types and the adapter contracts that commands receive; core code depends only on these.

export type Family = 4 | 6;

/** A service address normalised to its host prefix: "192.0.2.1/32", "2001:db8::1/128". */
export interface Vip {
  address: string; // canonical text form (ipaddr.js toString(): compressed, lower case)
  family: Family;
  prefix: string; // address + "/32" or "/128"
}

// ---- DNS ------------------------------------------------------------------------------------

export interface ResolvedName {
  /** The name as asked (lower case, no trailing dot). */
  name: string;
  /** CNAME chain followed, first hop first (empty when the name had A/AAAA itself). */
  chain: string[];
  /** Canonical addresses, IPv4 first then IPv6, each sorted. */
  addresses: string[];
  /** Smallest TTL seen along the chain and the answers, seconds (0 for a literal address). */
  ttl: number;
}

export interface Resolver {
  /** Resolve NAME (or a literal address) to its A and AAAA addresses, following CNAMEs.
   *  Throws VipError with a VIP_E_DNS_* code. */
  resolve(name: string): Promise<ResolvedName>;
}

// ---- BGP speaker ----------------------------------------------------------------------------

export interface BgpNetwork {
  prefix: string; // normalised, e.g. "192.0.2.1/32"
  routeMap: string | null;
}

/**
 * What the speaker runs, in FRR's terms, whichever speaker it is:
 * - FRR/Quagga: `router bgp`, its `network` statements and the route-maps of the running config.
 * - ExaBGP/GoBGP (no configuration of their own): asn is the daemon's local AS; networks are the
 *   routes it originates now (ExaBGP's adj-rib out, GoBGP's global rib), each with the route-map
 *   whose prepend count (policy.ts prependsOf) its AS path has (null when no route-map's does);
 *   routeMaps are every VIP-RANK-n and VIP-DRAIN, always there, since the adapter computes the AS
 *   path itself (policy.ts computedRouteMaps).
 * - BIRD: see adapters/bird.ts.
 */
export interface RunningBgp {
  /** `router bgp <asn>` of the default instance (the local AS), null when none is configured. */
  asn: number | null;
  networks: BgpNetwork[]; // network statements of the default instance, both address families
  routeMaps: string[]; // names of route-maps defined in the running config
  /** The whole running configuration text as the speaker printed it (ExaBGP/GoBGP: their routes). */
  text: string;
}

export interface SpeakerChange {
  action: 'add' | 'delete';
  prefix: string;
  /** route-map to announce with (add); the configured one being removed (delete). */
  routeMap: string | null;
}

/** What the local BGP table says of the path THIS speaker originates for one prefix (its `network`
 *  statement); paths to the same prefix learned from other DCs do not count. */
export interface PrefixState {
  prefix: string;
  inTable: boolean;
  valid: boolean;
  best: boolean;
  /** Number of peers the best path is advertised to. */
  advertisedTo: number;
}

export interface Speaker {
  /** true for ExaBGP and GoBGP: they keep no configuration of their own and forget every route on
   *  a restart, so vip-mgmt's announcement journal is the truth and every run re-announces what
   *  they lost (core/journal.ts). FRR, Quagga and BIRD keep theirs. */
  readonly stateless?: boolean;
  /** Read the running configuration. Throws VIP_E_SPEAKER_* (exit 6) when it cannot. */
  readRunning(): Promise<RunningBgp>;
  /** Send every change as ONE batch (FRR: one vtysh invocation or vty round; ExaBGP/GoBGP: see
   *  their adapters). Throws VIP_E_APPLY (with stderr) on rejection,
   *  VIP_E_SPEAKER_* when the speaker is unavailable. */
  apply(asn: number, changes: SpeakerChange[]): Promise<void>;
  /** Look up prefixes in the local BGP table. */
  lookup(prefixes: string[]): Promise<Map<string, PrefixState>>;
  /** readRunning and lookup in ONE vtysh process where the speaker can (the read-back after a
   *  change: a vtysh start costs more than the reads themselves). */
  snapshot?(prefixes: string[]): Promise<{ running: RunningBgp; table: Map<string, PrefixState> }>;
}

// ---- state ----------------------------------------------------------------------------------

export interface Hold {
  reason: string;
  by: string;
  since: string; // ISO 8601
  names: string[];
  /** a graceful drain in its first stage: announced with route-map VIP-DRAIN until `until` (ISO
   *  8601), withdrawn after (by the -d that started it, or the next watchdog cycle) */
  drain?: { until: string };
}

export type WatchdogStateName = 'up' | 'down' | 'rising' | 'falling' | 'held' | 'unknown';

export interface WatchdogVipState {
  state: WatchdogStateName;
  /** consecutive cycles counted towards rise (when down) or fall (when up) */
  count: number;
  live: number | null;
  since: string;
  /** virtual services the last believed IPVS table had for this VIP (absent: never seen) */
  services?: number;
  /** consecutive cycles this VIP's virtual services (or, when it is no longer a target, the VIP
   *  itself) have been gone: not believed until it reaches watchdog.settle */
  gone?: number;
  /** the host health checks failing at the last cycle, "LABEL: why" (status shows them) */
  failing?: string[];
}

/** Why this tool announces a VIP: the desired-state journal, written before the speaker is touched.
 *  `service`: a configured service (by -a or the watchdog); `discover`: an IPVS VIP no service
 *  claims; `literal`: an operator's -a of an address or name no service claims (the watchdog leaves
 *  those alone). */
export interface Announcement {
  routeMap: string;
  source: 'service' | 'discover' | 'literal';
  since: string; // ISO 8601
}

/** What the watchdog remembers of the IPVS table as a whole (see SPEC "Trusting inputs"). */
export interface IpvsTrust {
  /** virtual services in the last believed table */
  services: number;
  /** implausible cycles in a row not believed so far */
  distrusted: number;
}

export interface DnsCacheEntry {
  addresses: string[];
  chain: string[];
  expires: string; // ISO 8601
  fetched: string;
}

export interface State {
  version: 1;
  holds: Record<string, Hold>; // keyed by prefix
  watchdog: Record<string, WatchdogVipState>; // keyed by prefix
  dns: Record<string, DnsCacheEntry>; // keyed by name
  /** keyed by prefix; absent in files written before v2 of the contract */
  announced?: Record<string, Announcement>;
  ipvs?: IpvsTrust;
  /** fleet mode: the fleet holds last read from etcd (all DCs), so that a cycle with etcd
   *  unreachable goes on enforcing them; `fetched` is when they were read */
  fleet?: { holds: import('./fleet.js').FleetHold[]; fetched: string };
}

/** The run lock as held by this process. */
export interface RunLock {
  /** Throws VIP_E_LOCK_LOST (exit 1) when this run no longer owns the lock: it stalled (SIGSTOP,
   *  VM pause) past the stale time, or another run took it over. Called before every side effect. */
  assertHeld(): Promise<void>;
  release(): Promise<void>;
}

export interface StateStore {
  /** Take the exclusive run lock, waiting up to waitMs (default 0); throws VIP_E_LOCKED (exit 75)
   *  when another live run holds it. A lock left by a dead process is taken over at once. */
  lock(opts?: { waitMs?: number }): Promise<RunLock>;
  /** Read state; a missing file is an empty state, a corrupt one throws VIP_E_STATE_CORRUPT
   *  (exit 1) and leaves the file untouched. */
  read(): Promise<State>;
  /** Write atomically (new temp file opened O_EXCL|O_NOFOLLOW, mode 0600, fsync, rename).
   *  With `lock`, asserts the lock is still held right before the rename. */
  write(state: State, lock?: RunLock): Promise<void>;
}

// ---- clock and log ----------------------------------------------------------------------------

export interface Clock {
  now(): Date;
}

export type LogFields = Record<string, unknown>;

export interface Log {
  debug(fields: LogFields, msg: string): void;
  info(fields: LogFields, msg: string): void;
  warn(fields: LogFields, msg: string): void;
  error(fields: LogFields, msg: string): void;
}
