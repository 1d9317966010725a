// The configuration schema (SPEC.md "Configuration"): shape, defaults, and cross-field rules.
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { normalisePrefix, parseAddress } from '../core/prefix.js';

/** Highest total prepend count (base + last rank) accepted; longer AS paths only hide typos. */
export const MAX_PREPEND = 16;

const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `invalid duration "${v}" (use e.g. 500ms, 2s, 1m)` });
      return z.NEVER;
    }
    return ms;
  });

const dcName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a DC name is letters, digits, "_", "." or "-"');

const prefixText = z.string().transform((v, ctx) => {
  const n = normalisePrefix(v);
  if (!n || !v.includes('/')) {
    ctx.addIssue({ code: 'custom', message: `invalid prefix "${v}" (expected e.g. 192.0.2.0/24)` });
    return z.NEVER;
  }
  return n;
});

const addressText = z.string().transform((v, ctx) => {
  const a = parseAddress(v);
  if (!a) {
    ctx.addIssue({ code: 'custom', message: `invalid IP address "${v}"` });
    return z.NEVER;
  }
  return a.address;
});

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
    ctx.addIssue({ code: 'custom', message: `invalid DNS server "${v}" (expected "ip", "ip:port" or "[ipv6]:port")` });
    return z.NEVER;
  }
  return { host: a.address, port };
});

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
    ctx.addIssue({ code: 'custom', message: `invalid real server "${v}" (expected "ip" or "ip:port")` });
    return z.NEVER;
  }
  return { address: a.address, port };
});

const service = z.strictObject({
  name: z
    .string()
    .min(1)
    .transform((v) => v.toLowerCase().replace(/\.$/, '')),
  prefer: z.array(dcName).min(1, 'prefer needs at least one DC'),
  min_realservers: z.number().int().min(0).default(1),
  restore_realservers: z.number().int().min(0).optional(),
});

export const configSchema = z
  .strictObject({
    dc: dcName,
    bgp: z
      .strictObject({
        speaker: z.enum(['frr', 'quagga']).default('frr'),
        vtysh: z.string().min(1).default('vtysh'),
        pathspace: z.string().default(''),
        timeout: duration.default(10_000),
        verify_timeout: duration.default(5000),
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
    datacenters: z.record(dcName, z.strictObject({ asn: z.number().int().min(1).max(4294967295) })),
    prepend: z.strictObject({ base: z.number().int().min(0).default(0) }).prefault({}),
    services: z.array(service).default([]),
    watchdog: z
      .strictObject({
        rise: z.number().int().min(1).default(1),
        fall: z.number().int().min(1).default(1),
        ipvs: z
          .strictObject({
            source: z.enum(['proc', 'ipvsadm']).default('proc'),
            path: z.string().default('/proc/net/ip_vs'),
            ipvsadm: z.string().default('ipvsadm'),
          })
          .prefault({}),
        fwmarks: z.record(z.string().regex(/^\d+$/, 'a firewall mark is a number'), z.array(addressText)).default({}),
        exclude_realservers: z.array(realServerRef).default([]),
        discover: z.boolean().default(false),
        metrics_file: z.string().default(''),
        min_realservers: z.number().int().min(0).default(1),
        restore_realservers: z.number().int().min(0).optional(),
      })
      .prefault({}),
    state_dir: z.string().default('/var/lib/vip-mgmt'),
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
