// Which DNS servers to ask and how patiently, from the config or /etc/resolv.conf text (pure).
import { parseAddress } from './prefix.js';

export interface DnsServer {
  host: string; // canonical address
  port: number;
}

export interface ResolvConf {
  servers: DnsServer[];
  /** `options timeout:N`, in ms; absent when not set. */
  timeoutMs?: number;
  /** `options attempts:N`; absent when not set. */
  attempts?: number;
}

export interface ResolverSettings {
  servers: DnsServer[];
  timeoutMs: number;
  attempts: number;
  /** Where the servers came from, for error messages ("dns.servers" or the resolv.conf path). */
  source: string;
}

// glibc's limits (resolv.h): MAXNS servers, RES_MAXRETRANS timeout, RES_MAXRETRY attempts. Keeping
// them means we ask exactly the servers the rest of the host asks.
const MAXNS = 3;
const MAX_TIMEOUT_S = 30;
const MAX_ATTEMPTS = 5;

/**
 * Parse resolv.conf(5) text: `nameserver ADDR` lines (port 53; the first three, as glibc) and
 * `options timeout:N attempts:N` (the last setting wins). Comments start with '#' or ';'.
 * Nameservers that are not literal addresses (or carry an IPv6 zone) are skipped.
 */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { servers: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...args] = line.split(/\s+/);
    if (key === 'nameserver' && args[0]) {
      const a = args[0].includes('%') ? null : parseAddress(args[0]);
      if (a && out.servers.length < MAXNS && !out.servers.some((s) => s.host === a.address)) {
        out.servers.push({ host: a.address, port: 53 });
      }
    } else if (key === 'options') {
      for (const opt of args) {
        const m = /^(timeout|attempts):(\d+)$/.exec(opt);
        if (!m) continue;
        const n = Number(m[2]);
        if (m[1] === 'timeout') out.timeoutMs = Math.min(Math.max(n, 1), MAX_TIMEOUT_S) * 1000;
        else out.attempts = Math.min(Math.max(n, 1), MAX_ATTEMPTS);
      }
    }
  }
  return out;
}

/**
 * The settings a resolver runs with. Configured servers win, with the configured timeout and
 * attempts. With none configured the host's resolv.conf supplies the servers, and its options
 * override the config's values (which are then only defaults). Returns servers: [] when there is
 * nothing to ask; the resolver reports that as VIP_E_DNS_NO_SERVER.
 */
export function resolverSettings(
  cfg: { servers: readonly DnsServer[]; timeout: number; attempts: number },
  resolvConf: { path: string; text: string | null },
): ResolverSettings {
  if (cfg.servers.length > 0) {
    return { servers: [...cfg.servers], timeoutMs: cfg.timeout, attempts: cfg.attempts, source: 'dns.servers' };
  }
  const rc: ResolvConf = resolvConf.text === null ? { servers: [] } : parseResolvConf(resolvConf.text);
  return {
    servers: rc.servers,
    timeoutMs: rc.timeoutMs ?? cfg.timeout,
    attempts: rc.attempts ?? cfg.attempts,
    source: resolvConf.path,
  };
}

/** "127.0.0.1:5353", "[::1]:53" */
export function formatServer(s: DnsServer): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}
