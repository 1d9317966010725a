// The DNS adapter: asks the configured servers over UDP (TCP when truncated) and follows CNAME chains to A/AAAA.
import pLimit from 'p-limit';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { VipError } from '../core/errors.js';
import { parseAddress } from '../core/prefix.js';
import { printable } from '../core/text.js';
import {
  buildQuery,
  checkResponse,
  followChain,
  isValidName,
  normaliseName,
  type AddressType,
  type DnsRecord,
  type Reply,
} from '../core/dnsmsg.js';
import { formatServer, resolverSettings, type DnsServer, type ResolverSettings } from '../core/dnsconf.js';
import {
  combineFamilies,
  literalName,
  noServerError,
  summariseTries,
  type FailedTry,
  type FamilyOutcome,
  type ResolveContext,
} from '../core/dnsresult.js';
import type { ResolvedName, Resolver } from '../core/types.js';
import type { Config } from '../config/load.js';

export interface ResolverOptions {
  servers: DnsServer[];
  /** per try (one query to one server) */
  timeoutMs: number;
  /** rounds over the whole server list, as resolv.conf's attempts */
  attempts: number;
  /** named in error messages as where the servers come from; default "dns.servers" */
  source?: string;
}

export type TryResult =
  | { kind: 'answer'; reply: Extract<Reply, { kind: 'answer' }> }
  | { kind: 'truncated' }
  | { kind: 'failed'; failed: FailedTry };

const failed = (server: string, failure: FailedTry['failure'], detail: string): TryResult => ({
  kind: 'failed',
  failed: { server, failure, detail },
});

const newId = (): number => randomInt(0, 0x10000);

/** One UDP query from a fresh socket (kernel-chosen random source port). Only a packet from the
 *  server's own address and port that matches our id and question ends the wait. */
function udpTry(server: DnsServer, name: string, type: AddressType, timeoutMs: number): Promise<TryResult> {
  const where = formatServer(server);
  const family = parseAddress(server.host)?.family ?? 4;
  const id = newId();
  const query = buildQuery(name, type, id);
  return new Promise((resolve) => {
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: TryResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish(failed(where, 'timeout', `no answer in ${timeoutMs}ms`)), timeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) => finish(failed(where, 'unreachable', e.code ?? e.message)));
    sock.on('message', (msg, rinfo) => {
      if (parseAddress(rinfo.address)?.address !== server.host || rinfo.port !== server.port) return;
      const r = checkResponse(msg, { id, name, type });
      if (r.kind === 'ignore') return;
      finish(r.kind === 'truncated' ? r : { kind: 'answer', reply: r });
    });
    sock.send(query, server.port, server.host, (e) => {
      if (e) finish(failed(where, 'unreachable', (e as NodeJS.ErrnoException).code ?? e.message));
    });
  });
}

/** The same question over TCP (RFC 1035 4.2.2: each message behind a 2-byte length). */
function tcpTry(server: DnsServer, name: string, type: AddressType, timeoutMs: number): Promise<TryResult> {
  const where = formatServer(server);
  const id = newId();
  const query = buildQuery(name, type, id);
  return new Promise((resolve) => {
    const sock = net.connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (r: TryResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish(failed(where, 'timeout', `no TCP answer in ${timeoutMs}ms`)),
      timeoutMs,
    );
    sock.on('error', (e: NodeJS.ErrnoException) => finish(failed(where, 'unreachable', `TCP ${e.code ?? e.message}`)));
    sock.on('close', () => finish(failed(where, 'unreachable', 'TCP connection closed before an answer')));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const r = checkResponse(msg, { id, name, type });
        if (r.kind === 'ignore') continue;
        if (r.kind === 'truncated') return finish(failed(where, 'bad', 'truncated answer over TCP'));
        return finish({ kind: 'answer', reply: r });
      }
    });
  });
}

/** One question to one server (UDP, then TCP when truncated); also the host health checks' dns check. */
export async function oneTry(server: DnsServer, name: string, type: AddressType, timeoutMs: number): Promise<TryResult> {
  const r = await udpTry(server, name, type, timeoutMs);
  return r.kind === 'truncated' ? tcpTry(server, name, type, timeoutMs) : r;
}

type QueryResult =
  | { ok: true; server: string; reply: Extract<Reply, { kind: 'answer' }> }
  | { ok: false; tries: FailedTry[] };

/** Ask NAME/TYPE of each server in order, ATTEMPTS rounds. NOERROR and NXDOMAIN are final
 *  answers; SERVFAIL, REFUSED, odd rcodes and silence move on to the next server. */
async function query(s: ResolverSettings, name: string, type: AddressType): Promise<QueryResult> {
  const tries: FailedTry[] = [];
  for (let round = 0; round < s.attempts; round++) {
    for (const server of s.servers) {
      const r = await oneTry(server, name, type, s.timeoutMs);
      if (r.kind === 'failed') tries.push(r.failed);
      if (r.kind !== 'answer') continue;
      const o = r.reply.outcome;
      if (o === 'noerror' || o === 'nxdomain') return { ok: true, server: formatServer(server), reply: r.reply };
      tries.push({ server: formatServer(server), failure: o, detail: r.reply.rcodeName });
    }
  }
  return { ok: false, tries };
}

/** Resolve one family of NAME, asking again for a CNAME target the answer did not cover. */
async function resolveFamily(s: ResolverSettings, name: string, type: AddressType): Promise<FamilyOutcome> {
  const records: DnsRecord[] = [];
  const queried = new Set<string>();
  const servers: string[] = [];
  let qname = name;
  for (;;) {
    queried.add(qname);
    const r = await query(s, qname, type);
    if (!r.ok) {
      const sum = summariseTries(r.tries);
      const step = followChain(name, records, type, queried);
      return { ok: false, type, failure: sum.failure, chain: step.chain, at: qname, servers: sum.servers, detail: sum.detail };
    }
    if (!servers.includes(r.server)) servers.push(r.server);
    records.push(...r.reply.records);
    const step = followChain(name, records, type, queried);
    if (r.reply.outcome === 'nxdomain') {
      // RFC 6604: NXDOMAIN speaks of the last name of the chain the server followed.
      const at = step.chain.at(-1) ?? name;
      return { ok: false, type, failure: 'nxdomain', chain: step.chain, at, servers, detail: 'NXDOMAIN' };
    }
    switch (step.kind) {
      case 'done':
        return { ok: true, type, chain: step.chain, addresses: step.addresses, ttl: step.ttl, servers };
      case 'next':
        qname = step.name;
        continue;
      case 'loop':
      case 'depth':
        return { ok: false, type, failure: step.kind, chain: step.chain, at: qname, servers, detail: step.kind };
      case 'conflict':
        return {
          ok: false,
          type,
          failure: 'bad',
          chain: step.chain,
          at: step.owner,
          servers,
          detail: `${step.owner} has several CNAME targets (${step.targets.join(', ')})`,
        };
    }
  }
}

async function resolveWith(s: ResolverSettings, input: string): Promise<ResolvedName> {
  const lit = literalName(input);
  if (lit instanceof VipError) throw lit;
  if (lit) return lit;
  const name = normaliseName(input);
  if (!isValidName(name)) {
    throw new VipError('VIP_E_USAGE', `"${printable(input)}" is neither an IP address nor a valid DNS name: check the spelling`, {
      name: printable(input),
    });
  }
  if (s.servers.length === 0) throw noServerError(name, s.source);
  const ctx: ResolveContext = { attempts: s.attempts, timeoutMs: s.timeoutMs, source: s.source };
  const outcomes = await Promise.all([resolveFamily(s, name, 'A'), resolveFamily(s, name, 'AAAA')]);
  const r = combineFamilies(name, outcomes, ctx);
  if (r instanceof VipError) throw r;
  return r;
}

/** Names resolved at once by one resolver (each asks A and AAAA from a socket of its own). A cold
 *  watchdog cycle asks for every service: 1,000 names at once were 2,000 sockets and a burst the
 *  lab's dnsmasq partly dropped (timeouts, exit 4/7), as a rate-limiting resolver would. */
export const NAMES_IN_FLIGHT = 32;

/** A resolver asking exactly these servers. */
export function createResolver(opts: ResolverOptions): Resolver {
  const s: ResolverSettings = {
    servers: opts.servers.map((x) => ({ host: parseAddress(x.host)?.address ?? x.host, port: x.port })),
    timeoutMs: opts.timeoutMs,
    attempts: Math.max(1, opts.attempts),
    source: opts.source ?? 'dns.servers',
  };
  const limit = pLimit(NAMES_IN_FLIGHT);
  return { resolve: (name) => limit(() => resolveWith(s, name)) };
}

/** The resolver of the config's `dns` section. With no servers configured, resolv.conf is read at
 *  each resolve, so a long-running watchdog follows the host's changes to it. */
export function resolverFromConfig(cfg: Config['dns'], env: { resolvConf?: string } = {}): Resolver {
  if (cfg.servers.length > 0) {
    return createResolver({ servers: cfg.servers, timeoutMs: cfg.timeout, attempts: cfg.attempts });
  }
  const path = env.resolvConf ?? '/etc/resolv.conf';
  const limit = pLimit(NAMES_IN_FLIGHT);
  return {
    resolve: (name) =>
      limit(async () => {
        const text = await readFile(path, 'utf8').catch(() => null);
        return resolveWith(resolverSettings(cfg, { path, text }), name);
      }),
  };
}
