// The fleet store: the ONLY place that talks to etcd (etcd3 over gRPC). Every call has a deadline; every failure is a VIP_E_FLEET_* (exit 8) naming etcd and its endpoints.
//
// Choices, measured or checked against etcd 3.4 (Debian etcd-server) with etcd3 1.1 on Node 20:
// - A host has ONE lease, kept alive by each run (a single keepalive), and two keys under it: its
//   record (announcements, live counts, holds: 65 KiB at 1,000 VIPs) and a small "seen" key (when it
//   ran last, the record's digest, the lease). A run rewrites the record only when its content
//   changed, the seen key always: bench F measured 41 MiB of WAL per cycle of 200 hosts when every
//   run rewrote its record, which also grows etcd's history by 12.7 MiB a cycle until compaction.
//   A host that stops running loses both keys TTL seconds later. A new lease (first run, expired,
//   or lease_ttl changed) takes both keys over, then the old one is revoked.
// - Reads are linearizable (etcd's default): a member cut off from the quorum does not answer
//   with stale data, it times out, and that is what a fleet decision must see.
// - The deadline is ours (Promise.race) and gRPC's (per call), since etcd3 retries a failed call
//   on another endpoint under its own policy: the race bounds the whole, whatever etcd3 retries.
// - gRPC's 4 MiB receive limit is raised: 200 hosts x 1,000 VIPs is about 15 MiB of records.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { VipError, type ErrorCode } from '../core/errors.js';
import { createHash } from 'node:crypto';
import { holdKey, holdsPrefix, hostKey, hostsPrefix, leavingKey, leavingPrefix, parseFleetHold, parseHostRecord, parseLeaving, parseSeen, recordBody, seenKey, seenPrefix, FLEET_LAYOUT, type FleetHold, type HostRecord, type LeavingIntent, type SeenRecord } from '../core/fleet.js';

export interface FleetEtcdConfig {
  endpoints: string[];
  prefix: string;
  lease_ttl: number; // ms
  timeout: number; // ms, the deadline of every call
  tls?: { ca: string; cert?: string; key?: string };
}

/** Everything published, read in one linearizable range. `skipped` counts records that are not v1 or not valid. */
export interface FleetView {
  hosts: HostRecord[];
  holds: FleetHold[];
  /** withdrawals other runs have announced and not finished (core/fleet.ts withLeaving) */
  leaving: LeavingIntent[];
  skipped: number;
  /** etcd revision the view was read at */
  revision: string;
}

export interface MemberProbe {
  endpoint: string;
  ok: boolean;
  /** when ok */
  version?: string;
  leader?: string;
  memberId?: string;
  raftIndex?: string;
  /** this host's clock minus the member's, from the HTTP Date header of /version (1 s resolution) */
  skewMs?: number | null;
  error?: string;
}

export interface FleetStore {
  /** Put this host's record under a fresh lease (lease_ttl), then revoke its previous lease. Returns bytes written. */
  publish(rec: HostRecord): Promise<{ bytes: number }>;
  view(): Promise<FleetView>;
  /** only the holds (small): what a watchdog cycle reads every time */
  holds(): Promise<FleetHold[]>;
  /** Put fleet holds, all or none (one transaction). With `unchangedSince` (the revision of the view the guard decided on), only if
   *  no fleet hold was set or changed, and no withdrawal announced, after it; false when one was (decide again). */
  setHolds(hs: FleetHold[], unchangedSince?: string): Promise<boolean>;
  /** Announce that this host's run is about to withdraw some VIPs (before it reads the fleet for the
   *  guard), under a lease of its own (lease_ttl); release() removes it once the run has published. */
  announceLeaving(intent: LeavingIntent): Promise<{ release(): Promise<void> }>;
  /** true when a hold was there to clear */
  clearHold(dc: string, name: string): Promise<boolean>;
  /** Watch the holds prefix: onChange on every put/delete and after a reconnect (a change may have
   *  been missed meanwhile). Never throws: a watch that cannot be set up is retried by etcd3. */
  watchHolds(onChange: (why: string) => void, onError: (e: VipError) => void): { stop(): Promise<void> };
  close(): void;
}

const DEFAULT_MAX_MSG = 64 << 20;

/** The error of a failed etcd call: what kind, which endpoints, what to do. */
export function fleetError(e: unknown, what: string, cfg: Pick<FleetEtcdConfig, 'endpoints' | 'timeout'>): VipError {
  if (e instanceof VipError) return e;
  const msg = (e instanceof Error ? e.message : String(e)).replace(/\.?\s*Resolution note:\s*$/, "");
  const name = e instanceof Error ? e.constructor.name : '';
  const where = `etcd (${cfg.endpoints.join(', ')})`;
  let code: ErrorCode = 'VIP_E_FLEET_UNAVAILABLE';
  let why = msg;
  if (/DeadlineExceeded|deadline/i.test(name + msg)) {
    code = 'VIP_E_FLEET_TIMEOUT';
    why = `no answer within ${cfg.timeout} ms (members down, or no quorum)`;
  } else if (/request timed out|leader|no leader|quorum/i.test(msg)) {
    code = 'VIP_E_FLEET_NO_QUORUM';
  } else if (/SSL|certificate|TLS|handshake/i.test(msg)) {
    code = 'VIP_E_FLEET_TLS';
  } else if (/permission ?denied|unauthenticated|authenticat|auth token/i.test(name + msg)) {
    code = 'VIP_E_FLEET_AUTH';
  }
  return new VipError(code, `${what}: ${where}: ${why}`, { endpoints: cfg.endpoints });
}

/** Resolve P within MS, else reject with a VIP_E_FLEET_TIMEOUT; the timer never keeps the process alive. */
function within<T>(p: Promise<T>, ms: number, what: string, cfg: Pick<FleetEtcdConfig, 'endpoints' | 'timeout'>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new VipError('VIP_E_FLEET_TIMEOUT', `${what}: etcd (${cfg.endpoints.join(', ')}): no answer within ${ms} ms (members down, or no quorum)`, { endpoints: cfg.endpoints })), ms);
    t.unref();
  });
  return Promise.race([p, timeout])
    .catch((e) => {
      throw fleetError(e, what, cfg);
    })
    .finally(() => clearTimeout(t));
}

/** The key one past every key starting with PREFIX (etcd's range_end for a prefix). */
function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i]! += 1;
      return out;
    }
  }
  return Buffer.from([0]);
}

function tlsCredentials(tls: FleetEtcdConfig['tls']) {
  if (!tls) return undefined;
  try {
    return {
      rootCertificate: readFileSync(tls.ca),
      ...(tls.cert ? { certChain: readFileSync(tls.cert) } : {}),
      ...(tls.key ? { privateKey: readFileSync(tls.key) } : {}),
    };
  } catch (e) {
    throw new VipError('VIP_E_FLEET_TLS', `fleet.etcd.tls: ${(e as Error).message}`);
  }
}

/** etcd3 is CommonJS: under tsx its named export is there, in the esbuild bundle only on default. */
async function etcd3(): Promise<typeof import('etcd3')> {
  const m = (await import('etcd3')) as typeof import('etcd3') & { default?: typeof import('etcd3') };
  return m.Etcd3 ? m : m.default!;
}

export async function openFleetStore(cfg: FleetEtcdConfig): Promise<FleetStore> {
  const { Etcd3 } = await etcd3();
  const client = new Etcd3({
    hosts: cfg.endpoints,
    dialTimeout: cfg.timeout,
    credentials: tlsCredentials(cfg.tls),
    defaultCallOptions: () => ({ deadline: new Date(Date.now() + cfg.timeout) }),
    grpcOptions: { 'grpc.max_receive_message_length': DEFAULT_MAX_MSG, 'grpc.max_send_message_length': DEFAULT_MAX_MSG },
  });
  const call = <T>(what: string, p: () => Promise<T>) => within(Promise.resolve().then(p), cfg.timeout, what, cfg);
  const root = `${cfg.prefix}${FLEET_LAYOUT}/`;

  async function range(prefix: string) {
    return client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
  }

  /** One keepalive of lease ID: its remaining TTL in seconds, 0 when it expired. */
  async function keepAliveOnce(id: string): Promise<number> {
    const stream = await client.leaseClient.leaseKeepAlive();
    try {
      const r = await new Promise<{ TTL: string }>((res, rej) => {
        stream.on('data', res);
        stream.on('error', rej);
        stream.write({ ID: id });
      });
      return Number(r.TTL);
    } finally {
      stream.end();
    }
  }

  /** Records, holds and seen keys of a range; a record's `at` becomes its host's last run. */
  function split(kvs: { key: Buffer; value: Buffer }[]): Omit<FleetView, 'revision'> {
    const hosts: HostRecord[] = [];
    const holds: FleetHold[] = [];
    const leaving: LeavingIntent[] = [];
    const lp = leavingPrefix(cfg.prefix);
    const seen = new Map<string, SeenRecord>();
    let skipped = 0;
    const hp = hostsPrefix(cfg.prefix);
    const dp = holdsPrefix(cfg.prefix);
    const sp = seenPrefix(cfg.prefix);
    for (const kv of kvs) {
      const key = kv.key.toString();
      const text = kv.value.toString();
      if (key.startsWith(hp)) {
        const r = parseHostRecord(text);
        if (r) hosts.push(r);
        else skipped++;
      } else if (key.startsWith(dp)) {
        const h = parseFleetHold(text);
        if (h) holds.push(h);
        else skipped++;
      } else if (key.startsWith(sp)) {
        const s = parseSeen(text);
        if (s) seen.set(key.slice(sp.length), s);
      } else if (key.startsWith(lp)) {
        const l = parseLeaving(text);
        if (l) leaving.push(l);
        else skipped++;
      }
    }
    for (const h of hosts) {
      const s = seen.get(`${h.dc}/${h.host}`);
      if (s && s.at > h.at) h.at = s.at;
    }
    return { hosts, holds, leaving, skipped };
  }

  return {
    publish: (rec) =>
      call('publishing this host to the fleet', async () => {
        const ttl = Math.round(cfg.lease_ttl / 1000);
        const hk = Buffer.from(hostKey(cfg.prefix, rec.dc, rec.host));
        const sk = Buffer.from(seenKey(cfg.prefix, rec.dc, rec.host));
        const body = recordBody(rec);
        const digest = createHash('sha256').update(body).digest('base64url').slice(0, 22);
        const got = await client.kv.range({ key: sk });
        const seen = got.kvs[0] ? parseSeen(got.kvs[0].value.toString()) : null;
        // the lease of the last run, when it is still alive and has the configured TTL
        let lease = seen && seen.ttl === ttl && (await keepAliveOnce(seen.lease)) > 0 ? seen.lease : null;
        const fresh = lease === null;
        if (fresh) lease = (await client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 })).ID;
        const next: SeenRecord = { v: 1, at: rec.at, digest, lease: lease!, ttl };
        const sv = Buffer.from(JSON.stringify(next));
        let bytes = sk.length + sv.length;
        if (!fresh && seen!.digest === digest) {
          await client.kv.put({ key: sk, value: sv, lease: lease! });
        } else {
          const hv = Buffer.from(JSON.stringify(rec));
          await client.kv.txn({ compare: [], success: [{ request_put: { key: hk, value: hv, lease: lease! } }, { request_put: { key: sk, value: sv, lease: lease! } }], failure: [] });
          bytes += hk.length + hv.length;
        }
        // best effort: an old lease left alone expires at its TTL anyway
        if (fresh && seen && seen.lease !== lease) await client.leaseClient.leaseRevoke({ ID: seen.lease }).catch(() => undefined);
        return { bytes };
      }),
    view: () =>
      call('reading the fleet', async () => {
        const r = await range(root);
        return { ...split(r.kvs), revision: r.header.revision };
      }),
    holds: () => call('reading the fleet holds', async () => split((await range(holdsPrefix(cfg.prefix))).kvs).holds),
    setHolds: (hs, unchangedSince) =>
      call(`setting the fleet hold${hs.length === 1 ? '' : 's'} ${hs.map((h) => `${h.dc}/${h.name}`).join(', ')}`, async () => {
        const puts = hs.map((h) => ({ request_put: { key: Buffer.from(holdKey(cfg.prefix, h.dc, h.name)), value: Buffer.from(JSON.stringify(h)) } }));
        // with unchangedSince: every key under holds/ and leaving/ last modified at or before the
        // guard's view (an empty range passes; a hold cleared or a withdrawal finished meanwhile only
        // makes the fleet safer). A watchdog announcing a withdrawal after the view makes this fail.
        const unchanged = (prefix: string) => ({ result: 'Less' as const, target: 'Mod' as const, key: Buffer.from(prefix), range_end: prefixEnd(prefix), mod_revision: String(BigInt(unchangedSince!) + 1n) });
        const compare = unchangedSince === undefined ? [] : [unchanged(holdsPrefix(cfg.prefix)), unchanged(leavingPrefix(cfg.prefix))];
        const r = await client.kv.txn({ compare, success: puts, failure: [] });
        return r.succeeded;
      }),
    announceLeaving: (intent) =>
      call(`announcing the withdrawal of ${intent.prefixes.length} VIP(s) to the fleet`, async () => {
        const lease = (await client.leaseClient.leaseGrant({ TTL: Math.round(cfg.lease_ttl / 1000), ID: 0 })).ID;
        await client.kv.put({ key: Buffer.from(leavingKey(cfg.prefix, intent.dc, intent.host)), value: Buffer.from(JSON.stringify(intent)), lease });
        return {
          release: () => call('removing the finished withdrawal from the fleet', async () => void (await client.leaseClient.leaseRevoke({ ID: lease }))),
        };
      }),
    clearHold: (dc, name) =>
      call(`clearing the fleet hold ${dc}/${name}`, async () => {
        const r = await client.kv.deleteRange({ key: Buffer.from(holdKey(cfg.prefix, dc, name)) });
        return Number(r.deleted) > 0;
      }),
    watchHolds(onChange, onError) {
      let watcher: { cancel(): Promise<void> } | null = null;
      let stopped = false;
      let lost = false;
      client
        .watch()
        .prefix(holdsPrefix(cfg.prefix))
        .create()
        .then((w) => {
          if (stopped) return void w.cancel().catch(() => undefined);
          watcher = w;
          w.on('put', (kv) => onChange(`fleet hold set: ${kv.key.toString().slice(holdsPrefix(cfg.prefix).length)}`));
          w.on('delete', (kv) => onChange(`fleet hold cleared: ${kv.key.toString().slice(holdsPrefix(cfg.prefix).length)}`));
          w.on('disconnected', () => {
            lost = true;
          });
          w.on('connected', () => {
            if (lost) onChange('etcd watch reconnected');
            lost = false;
          });
          w.on('error', (e) => onError(fleetError(e, 'watching the fleet holds', cfg)));
        })
        .catch((e) => onError(fleetError(e, 'watching the fleet holds', cfg)));
      return {
        async stop() {
          stopped = true;
          await (watcher as { cancel(): Promise<void> } | null)?.cancel().catch(() => undefined);
        },
      };
    },
    close: () => client.close(),
  };
}

/** doctor: each endpoint alone (status: version, leader, raft index) and its clock (HTTP Date of /version). */
export async function probeMembers(cfg: FleetEtcdConfig, now: () => number = Date.now): Promise<MemberProbe[]> {
  const { Etcd3 } = await etcd3();
  const creds = tlsCredentials(cfg.tls);
  return Promise.all(
    cfg.endpoints.map(async (endpoint): Promise<MemberProbe> => {
      const one = { ...cfg, endpoints: [endpoint] };
      const client = new Etcd3({ hosts: [endpoint], dialTimeout: cfg.timeout, credentials: creds, defaultCallOptions: () => ({ deadline: new Date(Date.now() + cfg.timeout) }) });
      try {
        const st = await within(client.maintenance.status(), cfg.timeout, 'status', one);
        const skewMs = await httpSkew(endpoint, cfg, now).catch(() => null);
        return { endpoint, ok: true, version: st.version, leader: st.leader, memberId: st.header.member_id, raftIndex: st.raftIndex, skewMs };
      } catch (e) {
        return { endpoint, ok: false, error: (e as Error).message };
      } finally {
        client.close();
      }
    }),
  );
}

/** This host's clock minus the member's, from the Date header of GET /version (Go's net/http sets it). */
async function httpSkew(endpoint: string, cfg: FleetEtcdConfig, now: () => number): Promise<number | null> {
  const url = new URL('/version', endpoint);
  const get = url.protocol === 'https:' ? httpsGet : httpGet;
  const t0 = now();
  const date = await new Promise<string | undefined>((res, rej) => {
    const tls = cfg.tls && url.protocol === 'https:' ? { ca: readFileSync(cfg.tls.ca), ...(cfg.tls.cert ? { cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key!) } : {}) } : {};
    const req = get(url, { timeout: cfg.timeout, ...tls }, (r) => {
      r.resume();
      res(r.headers.date);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
  });
  const t1 = now();
  if (!date) return null;
  // the header has 1 s resolution (the member's time was somewhere in [Date, Date + 1 s)): compare
  // the middle of that second with the middle of the request; the error is then within +-0.5 s
  return Math.round((t0 + t1) / 2 - (Date.parse(date) + 500));
}

/** doctor: the days left on a PEM certificate file (negative: expired). */
export function certDaysLeft(path: string, now: Date): { days: number; subject: string; validTo: string } {
  const cert = new X509Certificate(readFileSync(path));
  return { days: (Date.parse(cert.validTo) - now.getTime()) / 86_400_000, subject: cert.subject.replace(/\n/g, ', '), validTo: cert.validTo };
}
