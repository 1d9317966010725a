// Shared helpers for the benchmarks: timing child processes, statistics, tables, and lab plumbing.
import { execFile, spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBgpLab, type BgpLab, type LabLb, type LabNode, type LbSpec } from '../test/lab/frr.ts';
import { startDnsmasq, type DnsRecords, type LabDns } from '../test/lab/dnsmasq.ts';
import { ROOT, labConfig, writeConfig, type LabConfig } from '../test/lab/cli.ts';

/**
 * The vip-mgmt being measured: this checkout (built by `npm run bench`), or with VIP_BENCH_ROOT
 * another built one, e.g. a clean `git archive` of a commit (the lab harness stays this checkout's).
 */
export const TARGET = resolve(process.env.VIP_BENCH_ROOT ?? ROOT);
export const TARGET_BIN = join(TARGET, 'bin', 'vip-mgmt');
if (!existsSync(join(TARGET, 'dist'))) throw new Error(`${TARGET}/dist is missing: build it first (npm run build)`);
/** A module of the measured tree's compiled output, e.g. dist('core/ipvs.js'). */
export const dist = (path: string): string => join(TARGET, 'dist', path);

export interface Timed {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run argv once (no shell) and time it from spawn to exit; never throws on a non-zero exit. */
export function timed(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Timed> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const env = { ...process.env, NO_COLOR: '1' };
    const c = execFile(argv[0]!, argv.slice(1), { env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
    if (opts.input !== undefined) c.stdin!.end(opts.input);
    else c.stdin!.end();
  });
}

/**
 * bin/vip-mgmt with a lab config, Node start included. It runs in the host's network namespace, as
 * the lab tests run it: vtysh -N reaches the LB's daemons through their unix sockets from anywhere,
 * and the lab's dnsmasq listens on the host's 127.0.0.1, which the LB namespace's loopback is not.
 * (`ip netns exec` itself costs a few ms: section B measures it.)
 */
export function vipMgmt(config: string, args: string[], timeoutMs = 120_000): Promise<Timed> {
  return timed([process.execPath, TARGET_BIN, '-c', config, ...args], { timeoutMs });
}

export function must(r: { code: number; stdout: string; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n--- stdout ---\n${r.stdout.slice(-3000)}\n--- stderr ---\n${r.stderr.slice(-3000)}`);
}

// ---- statistics ------------------------------------------------------------------------------

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
/** Nearest-rank percentile (p in 0..100). */
export function pct(xs: number[], p: number): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
export const median = (xs: number[]): number => {
  const s = sorted(xs);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
export const min = (xs: number[]) => Math.min(...xs);
export const max = (xs: number[]) => Math.max(...xs);
export const ms = (x: number): string => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);

/** Print a table with aligned columns (also valid Markdown). */
export function printTable(title: string, head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  process.stdout.write(`\n${title}\n\n${line(head)}\n|${w.map((n) => '-'.repeat(n + 2)).join('|')}|\n${rows.map((r) => line(r.map(String))).join('\n')}\n\n`);
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---- the machine -----------------------------------------------------------------------------

export function machine(): Record<string, string> {
  const out = (argv: string[]) => {
    try {
      return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return '';
    }
  };
  return {
    nproc: out(['nproc']),
    cpu: cpus()[0]?.model ?? '?',
    node: process.version,
    frr: out(['dpkg-query', '-W', '-f', '${Version}', 'frr']),
    dnsmasq: out(['dnsmasq', '--version']).split('\n')[0] ?? '',
    kernel: out(['uname', '-r']),
    load: out(['cat', '/proc/loadavg']),
    qemu: out(['pgrep', '-c', 'qemu']) || '0',
  };
}

export function printMachine(): void {
  const m = machine();
  let rev = '';
  try {
    rev = execFileSync('git', ['-C', TARGET, 'describe', '--always', '--dirty'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    rev = process.env.VIP_BENCH_REV ?? '(not a git checkout; set VIP_BENCH_REV to label it)';
  }
  log(`measuring ${TARGET_BIN} (${rev})`);
  log(`machine: nproc ${m.nproc}, ${m.cpu}, node ${m.node}, frr ${m.frr}, ${m.dnsmasq}, kernel ${m.kernel}, loadavg ${m.load}, qemu processes ${m.qemu}`);
}

// ---- lab plumbing ----------------------------------------------------------------------------

/** Put many addresses on the namespace's lo with one `ip -batch` (one `ip` per address takes seconds). */
export async function addLoAddresses(ns: string, dir: string, addrs: string[]): Promise<void> {
  const file = join(dir, `lo-${ns}.batch`);
  await writeFile(file, addrs.map((a) => (a.includes(':') ? `addr add ${a}/128 dev lo nodad\n` : `addr add ${a}/32 dev lo\n`)).join(''));
  execFileSync('ip', ['-n', ns, '-batch', file]);
}

/** Prefixes the router has in its BGP table for one family (any path), optionally filtered. */
export async function routerPrefixes(lab: BgpLab, family: 4 | 6, keep: (prefix: string) => boolean = () => true): Promise<Set<string>> {
  const j = await lab.router.json<any>(`show bgp ipv${family} unicast json`);
  return new Set(Object.keys(j?.routes ?? {}).filter(keep));
}

/** Poll until count(prefixes) satisfies pred; resolves with the count seen last. */
export async function waitCount(lab: BgpLab, family: 4 | 6, keep: (p: string) => boolean, pred: (n: number) => boolean, timeoutMs = 60_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const n = (await routerPrefixes(lab, family, keep)).size;
    if (pred(n)) return n;
    if (Date.now() > until) throw new Error(`router: ${n} prefixes after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One vtysh process that removes every given IPv4/IPv6 network statement (untimed setup). */
export async function withdrawAll(node: LabNode, asn: number, prefixes: string[]): Promise<void> {
  const v4 = prefixes.filter((p) => !p.includes(':'));
  const v6 = prefixes.filter((p) => p.includes(':'));
  const cmds = ['conf t', `router bgp ${asn}`];
  if (v4.length) cmds.push('address-family ipv4 unicast', ...v4.map((p) => `no network ${p}`), 'exit-address-family');
  if (v6.length) cmds.push('address-family ipv6 unicast', ...v6.map((p) => `no network ${p}`), 'exit-address-family');
  // vtysh prints "Can't find static route specified" for prefixes that were not there; harmless
  await node.vtysh(cmds).catch(() => undefined);
}

/** Spawned long-running child (ENV added to this process's), killed by its own pid only. */
export function spawnDaemon(argv: string[], env: Record<string, string> = {}): { child: ReturnType<typeof spawn>; output: () => string } {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out = (out + d).slice(-50_000)));
  child.stderr!.on('data', (d) => (out = (out + d).slice(-50_000)));
  return { child, output: () => out };
}

export const nproc = (): number => cpus().length;

/** Is a qemu process running right now? (Another job's VM competing for the CPUs.) */
export function qemuNow(): boolean {
  try {
    execFileSync('pgrep', ['qemu'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A timed sample, tagged with whether another VM was running before or after it. */
export interface Sample {
  ms: number;
  noisy: boolean;
}

/** Time fn() and tag it with qemuNow() before and after. */
export async function sample<T extends { ms: number }>(fn: () => Promise<T>): Promise<[T, Sample]> {
  const before = qemuNow();
  const r = await fn();
  return [r, { ms: r.ms, noisy: before || qemuNow() }];
}

/** Stats of all samples and of the quiet ones only: "1.40 s (quiet: 1.10 s, n=12)". */
export function quietStat(xs: Sample[], stat: (v: number[]) => number): string {
  const all = ms(stat(xs.map((x) => x.ms)));
  const quiet = xs.filter((x) => !x.noisy).map((x) => x.ms);
  return quiet.length === 0 ? `${all} (no quiet run)` : `${all} (quiet: ${ms(stat(quiet))}, n=${quiet.length})`;
}

export interface BenchLab {
  /** temp dir of the section, removed afterwards */
  dir: string;
  lab: BgpLab;
  lb: LabLb;
  /** dnsmasq's port on 127.0.0.1 (53, never asked, without HOSTS) */
  dnsPort: number;
  /** write a config for the LB (its DC, pathspace and dnsmasq; state in DIR/state; DCs par1 and
   *  lon1) with C's fields on top, and return its path */
  config(c?: Partial<LabConfig>): Promise<string>;
}

/**
 * The lab of one section: a temp dir, dnsmasq serving HOSTS (when given), one LB and the router.
 * FN runs inside it; everything is torn down afterwards, also when FN or the set-up fails.
 */
export async function withBenchLab<T>(
  opts: { tag: string; lb: LbSpec; hosts?: NonNullable<DnsRecords['hosts']>; ttl?: number },
  fn: (b: BenchLab) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `vip-bench-${opts.tag}-`));
  let dns: LabDns | null = null;
  let lab: BgpLab | null = null;
  try {
    if (opts.hosts) dns = await startDnsmasq({ records: { hosts: opts.hosts }, ttl: opts.ttl });
    lab = await createBgpLab({ lbs: [opts.lb], router: { asn: 65000 } });
    const lb = lab.lbs[opts.lb.name]!;
    const dnsPort = dns?.port ?? 53; // no dnsmasq: every NAME is a literal address, DNS is never asked
    const config = (c: Partial<LabConfig> = {}) =>
      writeConfig(
        dir,
        labConfig({
          dc: opts.lb.name,
          pathspace: lb.pathspace,
          dnsPort,
          stateDir: join(dir, 'state'),
          datacenters: { [opts.lb.name]: opts.lb.asn, lon1: 64513 },
          ...c,
        }),
      );
    return await fn({ dir, lab, lb, dnsPort, config });
  } finally {
    await lab?.destroy();
    await dns?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
