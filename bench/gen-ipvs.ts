// Generates big IPVS tables for benchmarks, in /proc/net/ip_vs and `ipvsadm -S -n` text exactly as the kernel and ipvsadm print them.
//
// CLI: node --import tsx bench/gen-ipvs.ts [--services 10000] [--reals 8] [--format proc|save] [--seed 1]
// The formatters are checked against the real captures in test/fixtures/ipvs/ (test/core/ipvs.test.ts):
// printf formats copied from ip_vs_info_seq_show() in net/netfilter/ipvs/ip_vs_ctl.c (Linux 6.1).
import { pathToFileURL } from 'node:url';
import ipaddr from 'ipaddr.js';
import { DEFAULT_HZ, type IpvsReal, type IpvsService, type IpvsTable } from '../src/core/ipvs.js';

const PROC_HEADER =
  'IP Virtual Server version 1.2.1 (size=4096)\n' +
  'Prot LocalAddress:Port Scheduler Flags\n' +
  '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';

const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, '0');
const left = (text: string | number, width: number): string => String(text).padEnd(width, ' ');

/** %08X of an IPv4 address, or [%pI6] (eight groups of four lower-case hex digits) of an IPv6 one. */
function procAddress(address: string): string {
  const a = ipaddr.parse(address);
  if (a.kind() === 'ipv4') return hex(a.toByteArray().reduce((n, b) => n * 256 + b, 0), 8);
  return `[${(a as ipaddr.IPv6).parts.map((p) => p.toString(16).padStart(4, '0')).join(':')}]`;
}

const FORWARD_NAME: Record<string, string> = { route: 'Route', tunnel: 'Tunnel', masq: 'Masq', local: 'Local' };

/** The text of /proc/net/ip_vs for a table (services and real servers in the order given). */
export function formatProcIpVs(table: IpvsTable, opts: { hz?: number } = {}): string {
  const hz = opts.hz ?? DEFAULT_HZ;
  const out: string[] = [PROC_HEADER];
  for (const s of table.services) {
    const ops = s.flags.includes('ops') ? 'ops ' : '';
    if (s.vip === null) {
      out.push(`FWM  ${hex(s.fwmark ?? 0, 8)} ${s.scheduler} ${ops}`);
    } else if (s.vip.includes(':')) {
      // The kernel prints no flags for IPv6 services.
      out.push(`${s.kind.toUpperCase()}  ${procAddress(s.vip)}:${hex(s.port ?? 0, 4)} ${s.scheduler} `);
    } else {
      out.push(`${s.kind.toUpperCase()}  ${procAddress(s.vip)}:${hex(s.port ?? 0, 4)} ${s.scheduler} ${ops} `);
    }
    // The model keeps no persistence netmask; a host mask is what ipvsadm sets by default.
    const mask = s.vip !== null && s.vip.includes(':') ? '00000080' : 'FFFFFFFF';
    out.push(s.persistent === null ? '\n' : `persistent ${s.persistent * hz} ${mask}\n`);
    for (const r of s.reals) {
      out.push(
        `  -> ${procAddress(r.address)}:${hex(r.port, 4)}      ${left(FORWARD_NAME[r.forward] ?? r.forward, 7)} ` +
          `${left(r.weight, 6)} ${left(r.active, 10)} ${left(r.inactive, 10)}\n`,
      );
    }
  }
  return out.join('');
}

const SAVE_KIND: Record<string, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service', fwm: '-f' };
const SAVE_FORWARD: Record<string, string> = { route: '-g', tunnel: '-i', masq: '-m' };

function saveAddress(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The text of `ipvsadm -S -n` for a table. */
export function formatIpvsadmSave(table: IpvsTable): string {
  const out: string[] = [];
  for (const s of table.services) {
    const v6fwm = s.vip === null && s.reals.some((r) => r.address.includes(':'));
    const svc =
      s.vip === null
        ? `-f ${s.fwmark}${v6fwm ? ' -6' : ''}`
        : `${SAVE_KIND[s.kind] ?? `--${s.kind}-service`} ${saveAddress(s.vip, s.port ?? 0)}`;
    let line = `-A ${svc} -s ${s.scheduler}`;
    if (s.flags.includes('ops')) line += ' -o';
    if (s.persistent !== null) line += ` -p ${s.persistent}`;
    out.push(`${line}\n`);
    for (const r of s.reals) {
      const tun = r.forward === 'tunnel' ? ' --tun-type ipip' : '';
      out.push(`-a ${svc} -r ${saveAddress(r.address, r.port)} ${SAVE_FORWARD[r.forward] ?? '-g'} -w ${r.weight}${tun}\n`);
    }
  }
  return out.join('');
}

export interface BenchOptions {
  services?: number; // default 10,000
  reals?: number; // per service, default 8
  seed?: number;
}

/**
 * A deterministic big table in documentation ranges: IPv4 VIPs in 192.0.2.0/24 and 203.0.113.0/24
 * with up to 20 ports each (TCP and UDP), every tenth service IPv6 in 2001:db8::/32, one service
 * in fifty a firewall mark; real servers in 198.51.100.0/24 and 2001:db8:ffff::/48, about one in
 * eight at weight 0, mixed forwarding methods, some persistent services and connection counts.
 */
export function benchTable(opts: BenchOptions = {}): IpvsTable {
  const n = opts.services ?? 10_000;
  const m = opts.reals ?? 8;
  let seed = opts.seed ?? 1;
  // mulberry32: a tiny seeded PRNG, so the same options always give the same table.
  const rand = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const schedulers = ['rr', 'wrr', 'wlc', 'lc', 'sh', 'mh'] as const;
  const forwards = ['route', 'route', 'route', 'masq', 'tunnel'] as const;

  const services: IpvsService[] = [];
  let v4 = 0;
  for (let i = 0; i < n; i++) {
    let vip: string | null;
    let port: number | null;
    let kind: string;
    let fwmark: number | null = null;
    const v6 = i % 10 === 9;
    if (i % 50 === 49) {
      kind = 'fwm';
      vip = null;
      port = null;
      fwmark = i + 1;
    } else if (v6) {
      kind = 'tcp';
      vip = `2001:db8::${(Math.floor(i / 4) + 1).toString(16)}`;
      port = [80, 443, 8080, 8443][i % 4]!;
    } else {
      const host = Math.floor(v4 / 20);
      vip = host < 256 ? `192.0.2.${host}` : `203.0.113.${host - 256}`;
      port = 1000 + (v4 % 20);
      kind = v4 % 5 === 4 ? 'udp' : 'tcp';
      v4++;
      if (host >= 512) throw new Error(`more than 10,240 IPv4 services do not fit in two /24s`);
    }
    const reals: IpvsReal[] = [];
    const used = new Set<string>();
    while (reals.length < m) {
      const h = 1 + Math.floor(rand() * 254);
      const address = v6 ? `2001:db8:ffff::${h.toString(16)}` : `198.51.100.${h}`;
      if (used.has(address)) continue;
      used.add(address);
      const fwd = pick(forwards);
      reals.push({
        address,
        port: kind === 'fwm' ? 0 : fwd === 'masq' ? 10_000 + (port ?? 0) : (port ?? 0),
        forward: fwd,
        weight: rand() < 0.125 ? 0 : 1 + Math.floor(rand() * 100),
        active: Math.floor(rand() * 50),
        inactive: Math.floor(rand() * 500),
      });
    }
    services.push({
      kind,
      vip,
      port,
      fwmark,
      scheduler: pick(schedulers),
      persistent: rand() < 0.1 ? 300 : null,
      flags: kind === 'udp' && rand() < 0.5 ? ['ops'] : [],
      reals,
    });
  }
  return { services, warnings: [], malformed: [] };
}

function main(argv: string[]): void {
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
  };
  const table = benchTable({ services: Number(arg('services', '10000')), reals: Number(arg('reals', '8')), seed: Number(arg('seed', '1')) });
  const format = arg('format', 'proc');
  if (format !== 'proc' && format !== 'save') throw new Error(`--format proc|save, not ${format}`);
  process.stdout.write(format === 'proc' ? formatProcIpVs(table) : formatIpvsadmSave(table));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
