// The configuration schema (SPEC.md "Configuration"): shape, defaults, and cross-field rules.
import { z } from 'zod';
import { checkDuration } from '../core/duration.js';
import { looksLikeAddress, normalisePrefix, parseAddress, vipAddressProblem, vipPrefixProblem } from '../core/prefix.js';
import { printable } from '../core/text.js';
import { isValidName } from '../core/dnsmsg.js';
import { DEFAULT_STATE_DIR } from './paths.js';
import { ownKeys } from './records.js';

/** Highest total prepend count (base + last rank) accepted; longer AS paths only hide typos. */
export const MAX_PREPEND = 16;

/** A duration with its unit ("2s"), more than 0 and within Node's timer limit (core/duration.ts):
 *  a bare number is refused, since nothing says whether `timeout: 10` means seconds or ms. */
const durationWith = (rules: Parameters<typeof checkDuration>[1]) =>
  z.unknown().transform((v, ctx) => {
    const r = checkDuration(v, rules);
    if ('problem' in r) {
      ctx.addIssue({ code: 'custom', message: r.problem });
      return z.NEVER;
    }
    return r.ms;
  });
const duration = durationWith({});
/** where 0s means "off" (drain.graceful) */
const durationOrOff = durationWith({ allowZero: true });

// ownKeys: a record keyed by names from the file, without a prototype (records.ts, which also lists
// where they are for the config cache: a new one goes into OWN_KEY_RECORDS too)

const dcName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a DC name is letters, digits, "_", "." or "-"');

/** A vip_prefixes entry: a prefix of unicast addresses (core/prefix.ts vipPrefixProblem). */
const prefixText = z.string().transform((v, ctx) => {
  const problem = vipPrefixProblem(v);
  const n = problem === null ? normalisePrefix(v) : null;
  if (!n) {
    ctx.addIssue({ code: 'custom', message: problem ?? `invalid prefix "${printable(v)}" (expected e.g. 192.0.2.0/24)` });
    return z.NEVER;
  }
  return n;
});

/** A VIP written in the config: the same rule as a NAME on the command line (vipAddressProblem). */
const vipText = z.string().transform((v, ctx) => {
  const problem = vipAddressProblem(v);
  const a = problem === null ? parseAddress(v) : null;
  if (!a) {
    ctx.addIssue({ code: 'custom', message: problem ?? `invalid IP address "${printable(v)}"` });
    return z.NEVER;
  }
  return a.address;
});

/** A firewall mark as ipvsadm -f takes it in decimal: 1 .. 2^32-1. */
const fwmark = z
  .string()
  .regex(/^[1-9]\d{0,9}$/, 'a firewall mark is a number from 1 to 4294967295, in decimal')
  .refine((k) => Number(k) <= 0xffffffff, 'a firewall mark is a number from 1 to 4294967295');

/** "ip", "ip:port" or "[ipv6]:port" */
const dnsServer = z.string().transform((v, ctx) => {
  let host = v;
  let port = 53;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  if (br) {
    host = br[1]!;
    if (br[2]) port = Number(br[2]);
  } else if ((v.match(/:/g) ?? []).length === 1) {
    const [h, p] = v.split(':') as [string, string];
    host = h;
    port = Number(p);
  }
  const a = parseAddress(host);
  if (!a || !Number.isInteger(port) || port < 1 || port > 65535) {
    const zone = looksLikeAddress(host) && host.includes('%') ? '; zone ids (%eth0) are not supported' : '';
    ctx.addIssue({ code: 'custom', message: `invalid DNS server "${printable(v)}" (expected "ip", "ip:port" or "[ipv6]:port"${zone})` });
    return z.NEVER;
  }
  return { host: a.address, port };
});

/** The speakers bgp.speaker names (SPEC "Speakers"). */
export const SPEAKER_KINDS = ['frr', 'quagga', 'bird', 'exabgp', 'gobgp'] as const;
export type SpeakerKind = (typeof SPEAKER_KINDS)[number];

/** gobgpd's API address: "host:port", "[ipv6]:port" (gobgp -u HOST -p PORT) or "unix:///path" (gobgp
 *  --target, gobgpd --api-hosts unix:///path: a socket reaches a gobgpd in another network namespace). */
const apiAddress = z.string().transform((v, ctx): GobgpApi => {
  if (v.startsWith('unix://')) {
    if (/^unix:\/\/\/[^\s]+$/.test(v)) return { unix: v.slice('unix://'.length) };
    ctx.addIssue({ code: 'custom', message: `invalid API address "${printable(v)}" (a unix socket is "unix:///absolute/path")` });
    return z.NEVER;
  }
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  const host = m?.[1] ?? '';
  const ok = m !== null && (parseAddress(host) !== null || /^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(host)) && Number.isInteger(port) && port >= 1 && port <= 65535;
  if (!ok) {
    ctx.addIssue({ code: 'custom', message: `invalid API address "${printable(v)}" (expected "host:port", "[ipv6]:port" or "unix:///path", e.g. 127.0.0.1:50051)` });
    return z.NEVER;
  }
  return { host: parseAddress(host)?.address ?? host, port };
});
export type GobgpApi = { host: string; port: number } | { unix: string };

/** "ip" or "ip:port" / "[ipv6]:port" of a real server to leave out of live counts. */
const realServerRef = z.string().transform((v, ctx) => {
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  let host = v;
  let port: number | null = null;
  if (br) {
    host = br[1]!;
    port = br[2] ? Number(br[2]) : null;
  } else if ((v.match(/:/g) ?? []).length === 1) {
    const [h, p] = v.split(':') as [string, string];
    host = h;
    port = Number(p);
  }
  const a = parseAddress(host);
  if (!a || (port !== null && (!Number.isInteger(port) || port < 0 || port > 65535))) {
    ctx.addIssue({ code: 'custom', message: `invalid real server "${printable(v)}" (expected "ip" or "ip:port")` });
    return z.NEVER;
  }
  return { address: a.address, port };
});

/** "host:port" or "[ipv6]:port" of a tcp check: the port is required (no default fits every service). */
const tcpTarget = z.string().transform((v, ctx) => {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  const a = m ? parseAddress(m[1]!) : null;
  if (!m || !a || !Number.isInteger(port) || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `invalid target "${printable(v)}" (expected "ip:port" or "[ipv6]:port")` });
    return z.NEVER;
  }
  return { host: a.address, port };
});

/** An http(s) URL a check can GET: the URL parser's verdict, http or https only, no credentials
 *  (they would land in logs and metrics labels). */
const checkUrl = z.string().superRefine((v, ctx) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `invalid URL "${printable(v)}"` });
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `"${printable(v)}": only http:// and https:// URLs can be checked` });
  if (u.username || u.password) ctx.addIssue({ code: 'custom', message: `"${printable(v)}": no credentials in the URL (they would show in logs and metrics)` });
});

/** Fields every check has: a timeout always (a check that can hang would stall a cron cycle), and
 *  in the daemon its own interval (default: the daemon's period). */
const requiredDuration = z.unknown().transform((v, ctx) => {
  const r = v === undefined ? { problem: 'is required' } : checkDuration(v);
  if ('problem' in r) {
    ctx.addIssue({ code: 'custom', message: r.problem });
    return z.NEVER;
  }
  return r.ms;
});
const checkCommon = { timeout: requiredDuration, interval: duration.optional() };

/** Host health checks (SPEC "Host health checks"): how a service is live without IPVS. */
export const checkSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('http'),
    url: checkUrl,
    /** a substring the body must contain (first 64 KiB) */
    expect: z.string().min(1).optional(),
    /** PEM file of the CA that signs an https URL's certificate (instead of the system's) */
    ca: z.string().min(1).optional(),
    ...checkCommon,
  }),
  z.strictObject({ type: z.literal('tcp'), target: tcpTarget, ...checkCommon }),
  z.strictObject({
    type: z.literal('dns'),
    server: dnsServer,
    name: z.string().refine(isValidName, 'not a valid DNS name'),
    qtype: z.enum(['A', 'AAAA']).default('A'),
    ...checkCommon,
  }),
  z.strictObject({
    type: z.literal('exec'),
    // absolute: cron and systemd run with a minimal PATH, and no shell ever reads this
    argv: z.tuple([z.string().regex(/^\//, 'argv[0] must be an absolute path (no shell, no PATH lookup)')], z.string()),
    ...checkCommon,
  }),
]);

const service = z.strictObject({
  name: z
    .string()
    .min(1)
    .transform((v) => v.toLowerCase().replace(/\.$/, '')),
  prefer: z.array(dcName).min(1, 'prefer needs at least one DC'),
  min_realservers: z.number().int().min(0).default(1),
  restore_realservers: z.number().int().min(0).optional(),
  /** where the service's liveness comes from: IPVS real servers, its checks, or both */
  live_from: z.enum(['ipvs', 'checks', 'both']).default('ipvs'),
  checks: z.array(checkSchema).default([]),
});

/** An etcd endpoint: http(s)://host:port, nothing else (no path, no credentials). */
const etcdEndpoint = z.string().superRefine((v, ctx) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `invalid endpoint "${printable(v)}" (expected e.g. https://10.0.0.1:2379)` });
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `"${printable(v)}": an etcd endpoint is http:// or https://` });
  if (u.username || u.password) ctx.addIssue({ code: 'custom', message: `"${printable(v)}": no credentials in the endpoint` });
  if (!u.port) ctx.addIssue({ code: 'custom', message: `"${printable(v)}": give the port (etcd's client port is usually 2379)` });
  if (u.pathname !== '/' && u.pathname !== '') ctx.addIssue({ code: 'custom', message: `"${printable(v)}": no path in an etcd endpoint` });
});

/** A host name as published in the fleet (a key segment): no "/" and nothing a terminal would act on. */
const fleetHost = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a fleet host name is letters, digits, "_", "." or "-"');

export const fleetSchema = z
  .strictObject({
    /** this host's name in the fleet; default: the hostname (config/load.ts fills it in) */
    host: fleetHost.optional(),
    etcd: z.strictObject({
      endpoints: z.array(etcdEndpoint).min(1, 'at least one etcd endpoint is required'),
      /** every key lives under this prefix, then v1/ (keys are versioned) */
      prefix: z
        .string()
        .default('/vip-mgmt/')
        .refine((p) => p.startsWith('/') && p.endsWith('/'), 'the prefix starts and ends with "/" (e.g. /vip-mgmt/)'),
      /** a host's published state lives this long without a new run */
      lease_ttl: durationWith({}).default(180_000).refine((ms) => ms >= 5000 && ms % 1000 === 0, 'lease_ttl is whole seconds, at least 5s (etcd leases count in seconds)'),
      /** the deadline of every etcd call */
      timeout: duration.default(2000),
      tls: z.strictObject({ ca: z.string().min(1), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).optional(),
    }),
    /** last_dc: refuse a withdrawal that leaves a VIP announced by no healthy host anywhere */
    guard: z.enum(['last_dc', 'none']).default('last_dc'),
  })
  .superRefine((f, ctx) => {
    const tls = f.etcd.tls;
    if (tls && Boolean(tls.cert) !== Boolean(tls.key)) ctx.addIssue({ code: 'custom', path: ['etcd', 'tls'], message: 'cert and key go together (a client certificate needs its key)' });
    if (tls && f.etcd.endpoints.some((e) => e.startsWith('http:'))) ctx.addIssue({ code: 'custom', path: ['etcd', 'endpoints'], message: 'tls is set but an endpoint is http://; use https:// endpoints' });
  });

export const configSchema = z
  .strictObject({
    dc: dcName,
    bgp: z
      .strictObject({
        /** frr | quagga (vtysh), bird (BIRD 2), exabgp (ExaBGP 4), gobgp (GoBGP 3): SPEC "Speakers" */
        speaker: z.enum(SPEAKER_KINDS).default('frr'),
        vtysh: z.string().min(1).default('vtysh'),
        /** frr: auto = bgpd's vty socket, vtysh when the socket cannot be used (adapters/vty.ts);
         *  vtysh = always vtysh. Quagga always uses vtysh. */
        transport: z.enum(['auto', 'vtysh']).default('auto'),
        pathspace: z.string().default(''),
        timeout: duration.default(10_000),
        verify_timeout: duration.default(5000),
        /** BIRD 2: vip-mgmt owns the include file, then `birdc configure` */
        bird: z
          .strictObject({
            birdc: z.string().min(1).default('birdc'),
            socket: z.string().min(1).default('/run/bird/bird.ctl'),
            include: z.string().regex(/^\//, 'an absolute path').default('/etc/bird/vip-mgmt.conf'),
          })
          .prefault({}),
        /** ExaBGP 4: exabgpcli over the named pipes /run/exabgp/<pipename>.{in,out} */
        exabgp: z
          .strictObject({
            cli: z.string().min(1).default('exabgpcli'),
            pipename: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'a plain name (letters, digits, "_", "-", ".")').default('exabgp'),
          })
          .prefault({}),
        /** GoBGP 3: gobgpd's gRPC API address; apply through the API itself (grpc) or the gobgp CLI
         *  (cli, one run a route); reads always use the CLI */
        gobgp: z
          .strictObject({
            cli: z.string().min(1).default('gobgp'),
            api: apiAddress.default({ host: '127.0.0.1', port: 50051 } as GobgpApi),
            apply: z.enum(['grpc', 'cli']).default('grpc'),
          })
          .prefault({}),
      })
      .prefault({}),
    dns: z
      .strictObject({
        servers: z.array(dnsServer).default([]),
        timeout: duration.default(2000),
        attempts: z.number().int().min(1).max(10).default(2),
      })
      .prefault({}),
    vip_prefixes: z.array(prefixText).min(1, 'at least one prefix is required: nothing outside it is ever announced'),
    datacenters: z.record(dcName, z.strictObject({ asn: z.number().int().min(1).max(4294967295) })).transform(ownKeys),
    prepend: z.strictObject({ base: z.number().int().min(0).default(0) }).prefault({}),
    services: z.array(service).default([]),
    watchdog: z
      .strictObject({
        rise: z.number().int().min(1).default(2),
        fall: z.number().int().min(1).default(2),
        /** cycles an implausible IPVS table (SPEC "Trusting inputs") is not believed */
        settle: z.number().int().min(1).default(2),
        /** where the watchdog would withdraw: withdraw, or demote (announce with route-map VIP-DRAIN) */
        down_action: z.enum(['withdraw', 'demote']).default('withdraw'),
        ipvs: z
          .strictObject({
            source: z.enum(['proc', 'ipvsadm']).default('proc'),
            path: z.string().default('/proc/net/ip_vs'),
            ipvsadm: z.string().default('ipvsadm'),
          })
          .prefault({}),
        fwmarks: z
          .record(fwmark, z.array(vipText))
          .transform(ownKeys)
          .default(() => Object.create(null) as Record<string, string[]>),
        exclude_realservers: z.array(realServerRef).default([]),
        discover: z.boolean().default(false),
        metrics_file: z.string().default(''),
        min_realservers: z.number().int().min(0).default(1),
        restore_realservers: z.number().int().min(0).optional(),
      })
      .prefault({}),
    drain: z
      .strictObject({
        /** default of -d --graceful: announce with VIP-DRAIN this long before withdrawing; 0s = off */
        graceful: durationOrOff.default(0),
      })
      .prefault({}),
    /** fleet mode (SPEC "Fleet mode"): absent = everything stays local */
    fleet: fleetSchema.optional(),
    state_dir: z.string().default(DEFAULT_STATE_DIR),
    log: z
      .strictObject({
        syslog: z.boolean().default(true),
        tag: z.string().default('vip-mgmt'),
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .prefault({}),
  });

export type ConfigInput = z.input<typeof configSchema>;
export type RawConfig = z.output<typeof configSchema>;
export type ServiceConfig = RawConfig['services'][number];
export type CheckConfig = ServiceConfig['checks'][number];
