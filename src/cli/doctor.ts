// `doctor`: look at this host the way the other commands will (vtysh, bgpd, neighbors, VIPs on lo, IPVS, DNS, state_dir, schedule) and print one line per check with its fix.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { loadConfig } from '../config/file.js';
import type { Config } from '../config/load.js';
import { isVipError } from '../core/errors.js';
import { prependRuleOf } from '../core/policy.js';
import {
  asnCheck,
  bgpdCheck,
  configCheck,
  dnsServerCheck,
  doctorExit,
  formatReport,
  heldCheck,
  ipvsCheck,
  mentionsWatchdog,
  neighborChecks,
  noDnsServerCheck,
  reportJson,
  routeMapCheck,
  birdIncludeCheck,
  scheduleCheck,
  serviceDnsCheck,
  stateDirCheck,
  vipLocalChecks,
  vipsToHold,
  vtyshCheck,
  cronNameRuns,
  type Check,
  type Failure,
  type ScheduleEntry,
  type SpeakerContext,
} from '../core/doctor.js';
import { ipvsVips } from '../core/live.js';
import type { ResolvedName, RunningBgp } from '../core/types.js';
import type { DiagnosableSpeaker } from '../adapters/vtysh.js';
import type { GlobalOptions } from './context.js';
import { makeDeps, makeIpvsPort, makeOutput } from './deps.js';

/** Where doctor looks for the watchdog's schedule; tests point these elsewhere. */
export interface DoctorPaths {
  /** directories of cron.d-style files (cron skips names with dots: those do not count) */
  cronDirs: string[];
  /** crontab files (system crontab, users' spools) */
  crontabs: string[];
  /** directories holding systemd units */
  unitDirs: string[];
  resolvConf: string;
}

export const DEFAULT_DOCTOR_PATHS: DoctorPaths = {
  cronDirs: ['/etc/cron.d'],
  crontabs: ['/etc/crontab', '/var/spool/cron/crontabs/root'],
  unitDirs: ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'],
  resolvConf: '/etc/resolv.conf',
};

const failureOf = (e: unknown): Failure =>
  isVipError(e) ? { code: e.code, message: e.message } : { code: 'VIP_E_FAILED', message: (e as Error)?.message ?? String(e) };

/** The executable vtysh would be, as spawn finds it: a path as given, or the first hit on PATH. */
async function findExecutable(bin: string): Promise<string | null> {
  const candidates = bin.includes('/') ? [bin] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, bin));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      if ((await stat(c)).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return null;
}

async function speakerChecks(
  config: Config,
  speaker: DiagnosableSpeaker | import('../core/types.js').Speaker,
  ctx: SpeakerContext,
): Promise<{ checks: Check[]; running: RunningBgp | null; unavailable: boolean }> {
  const found = await findExecutable(ctx.vtysh);
  const checks = [vtyshCheck(ctx, found)];
  if (!found) return { checks, running: null, unavailable: true };
  let running: RunningBgp;
  try {
    running = await speaker.readRunning();
  } catch (e) {
    checks.push(bgpdCheck(ctx, { error: failureOf(e) }));
    return { checks, running: null, unavailable: true };
  }
  checks.push(bgpdCheck(ctx, { running }));
  checks.push(asnCheck(running, config.dc, config.datacenters[config.dc]!.asn));
  checks.push(routeMapCheck(config, running));
  if (ctx.dialect === 'bird') {
    const { createBirdSpeaker } = await import('../adapters/bird.js');
    const prepend = prependRuleOf(config);
    const bird = createBirdSpeaker({ asn: config.datacenters[config.dc]!.asn, prepend, timeoutMs: config.bgp.timeout, daemon: config.bgp.bird });
    try {
      checks.push(birdIncludeCheck(await bird.includeReport()));
    } catch (e) {
      checks.push({ id: 'bird-include', title: 'BIRD include and export filter', verdict: 'fail', detail: failureOf(e).message, fix: 'birdc show protocols all' });
    }
  }
  if ('neighbors' in speaker) {
    try {
      checks.push(...neighborChecks(await speaker.neighbors()));
    } catch (e) {
      const { message } = failureOf(e);
      checks.push({ id: 'neighbors', title: 'BGP neighbors', verdict: 'fail', detail: message, fix: "run vtysh -c 'show bgp summary' by hand" });
    }
  }
  return { checks, running, unavailable: false };
}

async function dnsChecks(config: Config, resolver: import('../core/types.js').Resolver, paths: DoctorPaths): Promise<{ checks: Check[]; resolved: ResolvedName[] }> {
  const [{ createResolver }, { resolverSettings, formatServer }] = await Promise.all([import('../adapters/dns.js'), import('../core/dnsconf.js')]);
  const rcText = config.dns.servers.length > 0 ? null : await readFile(paths.resolvConf, 'utf8').catch(() => null);
  const settings = resolverSettings(config.dns, { path: paths.resolvConf, text: rcText });
  // each server on its own, with one try: a dead secondary hides behind a live primary otherwise
  const asked = config.services[0]?.name ?? 'localhost';
  const serverChecks =
    settings.servers.length === 0
      ? Promise.resolve([noDnsServerCheck(settings.source)])
      : Promise.all(
          settings.servers.map(async (s) => {
            const one = createResolver({ servers: [s], timeoutMs: settings.timeoutMs, attempts: 1, source: settings.source });
            const t0 = performance.now();
            try {
              const r = await one.resolve(asked);
              return dnsServerCheck(formatServer(s), asked, { addresses: r.addresses, ms: performance.now() - t0 }, settings.source);
            } catch (e) {
              return dnsServerCheck(formatServer(s), asked, { error: failureOf(e) }, settings.source);
            }
          }),
        );
  const names = Promise.all(
    config.services.map(async (s) => {
      try {
        const r = await resolver.resolve(s.name);
        return { check: serviceDnsCheck(s.name, r, config), resolved: r };
      } catch (e) {
        return { check: serviceDnsCheck(s.name, { error: failureOf(e) }, config), resolved: null };
      }
    }),
  );
  const [sc, nc] = await Promise.all([serverChecks, names]);
  return { checks: [...sc, ...nc.map((n) => n.check)], resolved: nc.flatMap((n) => (n.resolved ? [n.resolved] : [])) };
}

async function ipvsChecks(config: Config): Promise<Check> {
  const ipvs = config.watchdog.ipvs;
  const source = ipvs.source === 'proc' ? ipvs.path : `${ipvs.ipvsadm} -S -n`;
  try {
    const table = await (await makeIpvsPort(config)).read();
    return ipvsCheck({ source, services: table.services.length, vips: ipvsVips(table).length, warnings: table.warnings });
  } catch (e) {
    return ipvsCheck({ error: failureOf(e) });
  }
}

/** Exported for tests. */
export async function stateChecks(config: Pick<Config, 'state_dir'>, store: import('../core/types.js').StateStore): Promise<Check> {
  const dir = config.state_dir;
  let exists = true;
  try {
    if (!(await stat(dir)).isDirectory()) return stateDirCheck(dir, { error: 'not a directory' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return stateDirCheck(dir, { error: (e as Error).message });
    exists = false;
  }
  if (!exists) {
    // the first run creates it (mkdir -p): the nearest existing ancestor must be writable
    let up = dirname(dir);
    for (;;) {
      try {
        await stat(up);
        break;
      } catch {
        if (dirname(up) === up) break;
        up = dirname(up);
      }
    }
    try {
      await access(up, constants.W_OK);
      return stateDirCheck(dir, { writable: true, exists: false, holds: null });
    } catch {
      return stateDirCheck(dir, { error: `does not exist and ${up} is not writable` });
    }
  }
  // Really create and remove a file: access() says nothing of a read-only mount or a full disk.
  const probe = join(dir, `.doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, 'vip-mgmt doctor\n', { flag: 'wx', mode: 0o600 });
    await rm(probe);
  } catch (e) {
    await rm(probe, { force: true }).catch(() => undefined);
    return stateDirCheck(dir, { error: `cannot create a file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  try {
    const state = await store.read();
    return stateDirCheck(dir, { writable: true, exists: true, holds: Object.keys(state.holds).length });
  } catch (e) {
    return stateDirCheck(dir, { writable: true, exists: true, holds: null, stateError: failureOf(e) });
  }
}

/** Exported for tests, which point `paths` at a temp directory. */
export async function scheduleChecks(paths: Pick<DoctorPaths, 'cronDirs' | 'crontabs' | 'unitDirs'>): Promise<Check> {
  const found: ScheduleEntry[] = [];
  const ignored: string[] = [];
  const readText = (p: string) => readFile(p, 'utf8').catch(() => null);
  for (const d of paths.cronDirs) {
    const names = await readdir(d).catch(() => [] as string[]);
    for (const n of names.sort()) {
      const p = join(d, n);
      const text = await readText(p);
      if (text === null || !mentionsWatchdog(text)) continue;
      if (cronNameRuns(n)) found.push({ path: p, kind: 'cron', enabled: true });
      else ignored.push(p);
    }
  }
  for (const p of paths.crontabs) {
    const text = await readText(p);
    if (text !== null && mentionsWatchdog(text)) found.push({ path: p, kind: 'cron', enabled: true });
  }
  // enabled = linked from some *.wants/ directory (systemctl enable's symlink)
  const wants: string[] = [];
  for (const d of paths.unitDirs) {
    for (const w of (await readdir(d).catch(() => [] as string[])).filter((n) => n.endsWith('.wants'))) wants.push(join(d, w));
  }
  for (const [unit, kind] of [['vip-mgmt-watchdog.timer', 'timer'], ['vip-mgmt-watchdogd.service', 'daemon']] as const) {
    const path = (await Promise.all(paths.unitDirs.map(async (d) => ((await readText(join(d, unit))) !== null ? join(d, unit) : null)))).find((p) => p !== null);
    if (!path) continue;
    const enabled = (await Promise.all(wants.map((w) => stat(join(w, unit)).then(() => true, () => false)))).some(Boolean);
    found.push({ path, kind, enabled });
  }
  return scheduleCheck(found, ignored);
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

export async function doctorCommand(g: GlobalOptions, paths: DoctorPaths = DEFAULT_DOCTOR_PATHS): Promise<number> {
  const out = makeOutput();
  const print = (report: Parameters<typeof doctorExit>[0]): number => {
    if (g.json) out.json(reportJson(report));
    else out.data(formatReport(report));
    return doctorExit(report);
  };

  let config: Config;
  let deps: Awaited<ReturnType<typeof makeDeps>>;
  try {
    config = await loadConfig(g.config);
    deps = await makeDeps(g, config);
  } catch (e) {
    if (!isVipError(e) || e.exit !== 3) throw e;
    return print({ checks: [configCheck(g.config, { error: failureOf(e) })], speakerUnavailable: false, configInvalid: true });
  }
  try {
    const kind = config.bgp.speaker;
    const program = kind === 'bird' ? config.bgp.bird.birdc : kind === 'exabgp' ? config.bgp.exabgp.cli : kind === 'gobgp' ? config.bgp.gobgp.cli : config.bgp.vtysh;
    const ctx: SpeakerContext = { dialect: kind, vtysh: program, pathspace: kind === 'frr' ? config.bgp.pathspace || undefined : undefined };
    const [speaker, dns, ipvs, state, schedule] = await Promise.all([
      speakerChecks(config, deps.speaker, ctx),
      dnsChecks(config, deps.resolver, paths),
      ipvsChecks(config),
      stateChecks(config, deps.store),
      scheduleChecks(paths),
    ]);
    const vips = vipLocalChecks(vipsToHold(config, dns.resolved, speaker.running), localAddresses());
    const holds = speaker.running ? await deps.store.read().then((s) => heldCheck(s.holds, speaker.running!)).catch(() => null) : null;
    const fleet = config.fleet ? await fleetDoctor(deps) : [];
    const checks: Check[] = [
      configCheck(g.config, { services: config.services.length, dc: config.dc }),
      ...speaker.checks,
      ...dns.checks,
      ...vips,
      ipvs,
      state,
      ...(holds ? [holds] : []),
      schedule,
      ...fleet,
    ];
    return print({ checks, speakerUnavailable: speaker.unavailable });
  } finally {
    await deps.log.flush();
  }
}

/** Fleet mode: each etcd member alone, a linearizable read (the quorum), clock skew, this host's
 *  record, the TLS files' expiry. */
async function fleetDoctor(deps: Awaited<ReturnType<typeof makeDeps>>): Promise<Check[]> {
  const f = deps.config.fleet!;
  const [{ probeMembers, certDaysLeft }, { fleetStore, fleetHost }, { fleetChecks }] = await Promise.all([import('../adapters/etcd.js'), import('./fleet.js'), import('../core/doctor.js')]);
  const host = fleetHost(deps.config);
  const now = deps.clock.now();
  const [endpoints, read] = await Promise.all([
    probeMembers(f.etcd),
    (async () => {
      const t0 = performance.now();
      try {
        const v = await (await fleetStore(deps.config)).view();
        return { ms: performance.now() - t0, hosts: v.hosts.length, holds: v.holds.length, self: v.hosts.some((h) => h.dc === deps.config.dc && h.host === host) };
      } catch (e) {
        return { error: failureOf(e) };
      }
    })(),
  ]);
  const certs: import('../core/doctor.js').FleetProbe['certs'] = [];
  for (const [role, path] of [['ca', f.etcd.tls?.ca], ['cert', f.etcd.tls?.cert]] as const) {
    if (!path) continue;
    try {
      const c = certDaysLeft(path, now);
      certs.push({ role, path, days: c.days, validTo: c.validTo });
    } catch (e) {
      certs.push({ role, path, error: (e as Error).message });
    }
  }
  return fleetChecks({ endpoints, read, host, dc: deps.config.dc, leaseTtlMs: f.etcd.lease_ttl, certs });
}
