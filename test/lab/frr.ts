// Lab harness: real FRR (zebra + bgpd) "lb" speakers and one "router", each in its own network namespace and pathspace.
//
// Topology: every LB has a veth pair to the router, eBGP over IPv4 and IPv6 on it, and its VIPs on
// `lo` (FRR's import check keeps a `network` whose prefix is not in the RIB out of the BGP table).
// Names are unique per run (namespaces, pathspaces, veths) so runs can overlap; destroy() removes
// exactly what this lab started, and a process exit kills the daemons even when a test crashed.
import { execFileSync, execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile, chown, chmod } from 'node:fs/promises';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);
const FRR = '/usr/lib/frr';

/** Programs the FRR lab needs on this machine. */
export const FRR_LAB_COMMANDS = ['vtysh', 'ip', `${FRR}/zebra`, `${FRR}/bgpd`];

export interface LbSpec {
  /** logical name, e.g. "par1" */
  name: string;
  asn: number;
  /** addresses put on the namespace's lo (VIPs this LB may announce) */
  vips?: string[];
  /** VIP-RANK-0..ranks-1 route-maps in the startup config (default 4); 0 = none */
  ranks?: number;
  /** prepend.base (default 0) */
  base?: number;
  /** network statements (prefix -> route-map) in the startup config */
  networks?: [prefix: string, routeMap: string][];
  /** extra lines appended to the startup config */
  extraConfig?: string;
  /** run this BGP daemon as the LB instead of FRR (test/lab/speakers/): ExaBGP, GoBGP, BIRD... */
  daemon?: LbDaemonFactory;
}

/** What a non-FRR LB daemon gets to start in its namespace (test/lab/speakers/README.md). */
export interface LbDaemonContext {
  /** this lab's unique id (names of pipes, sockets, ports derive from it) */
  id: string;
  name: string;
  ns: string;
  /** a directory of this LB's own, removed with the lab */
  dir: string;
  asn: number;
  v4: string;
  v6: string;
  peerV4: string;
  peerV6: string;
  routerAsn: number;
  /** a pid file the lab kills the pid of at destroy (and at process exit) */
  trackPidfile(path: string): void;
  /** a path (file or directory) the lab removes at destroy */
  trackPath(path: string): void;
}

export interface LbDaemon {
  /** the vip-mgmt config's `bgp:` section that drives this daemon */
  bgp: Record<string, unknown>;
  /** (re)start the daemon; resolves once its control channel answers */
  start(): Promise<void>;
  /** SIGKILL it; resolves once it is gone */
  kill(): Promise<void>;
}

export interface LbDaemonFactory {
  kind: string;
  /** programs it needs (for requireLab) */
  commands: string[];
  create(ctx: LbDaemonContext): Promise<LbDaemon>;
}

export interface LabNode {
  name: string;
  ns: string;
  pathspace: string;
  asn: number;
  /** link addresses facing the other side */
  v4: string;
  v6: string;
  /** run vtysh -N pathspace with one -c per command; resolves stdout */
  vtysh(cmds: string[]): Promise<string>;
  /** run one show command with json output and parse it */
  json<T = any>(cmd: string): Promise<T>;
  /** run a command inside the namespace */
  exec(argv: string[]): Promise<string>;
}

export interface LabLb extends LabNode {
  /** link address of the router as this LB sees it */
  peerV4: string;
  peerV6: string;
  configFile: string;
  /** the speaker this LB runs: FRR (bgpd in pathspace) unless its spec named a daemon */
  speaker: { kind: string; bgp: Record<string, unknown> };
}

export interface RoutePath {
  /** local preference as the router set it (null when FRR prints none) */
  localPref?: number | null;
  /** communities as FRR prints them, e.g. "graceful-shutdown" */
  communities?: string[];
  /** LB name the path came from ("?" if unknown) */
  from: string;
  asPath: number[];
  best: boolean;
  valid: boolean;
}

export interface RouterRoute {
  prefix: string;
  paths: RoutePath[];
  best: RoutePath | null;
}

export interface BgpLab {
  id: string;
  router: LabNode;
  lbs: Record<string, LabLb>;
  /** The router's view of one prefix; null when it has no path at all. */
  routerRoute(prefix: string): Promise<RouterRoute | null>;
  /** Poll routerRoute until pred is true (default 15 s); returns the last value, throws on timeout. */
  waitRoute(prefix: string, pred: (r: RouterRoute | null) => boolean, timeoutMs?: number): Promise<RouterRoute | null>;
  /** Wait until every BGP session of the router is Established. */
  waitEstablished(timeoutMs?: number): Promise<void>;
  /** SIGKILL one LB's bgpd (zebra stays): vtysh then reports bgpd down. For an LB running another
   *  daemon (LbSpec.daemon), that daemon. */
  killBgpd(lb: string): Promise<void>;
  /** Start it again from its startup config file (another daemon: from its own). */
  startBgpd(lb: string): Promise<void>;
  destroy(): Promise<void>;
}

interface Started {
  nses: string[];
  pidfiles: string[];
  dirs: string[];
}

const live = new Set<Started>();
process.on('exit', () => {
  for (const s of live) cleanupSync(s);
});

function cleanupSync(s: Started): void {
  for (const f of s.pidfiles) {
    try {
      process.kill(Number(readFileSync(f, 'utf8').trim()), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const ns of s.nses) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  for (const d of s.dirs) rmSync(d, { recursive: true, force: true });
}

async function ip(args: string[]): Promise<void> {
  await run('ip', args);
}

function prependLine(asn: number, count: number): string {
  return count > 0 ? ` set as-path prepend ${Array(count).fill(asn).join(' ')}\n` : '';
}

function lbConfig(spec: LbSpec, v4: string, v6: string, peerV4: string, peerV6: string, routerAsn: number): string {
  const ranks = spec.ranks ?? 4;
  const base = spec.base ?? 0;
  let rm = '';
  for (let r = 0; r < ranks; r++) rm += `route-map VIP-RANK-${r} permit 10\n${prependLine(spec.asn, base + r)}!\n`;
  // as render emits it: the GRACEFUL_SHUTDOWN community and a longer path than any rank
  if (ranks > 0) rm += `route-map VIP-DRAIN permit 10\n${prependLine(spec.asn, base + ranks)} set community graceful-shutdown additive\n!\n`;
  const nets = spec.networks ?? [];
  const v4nets = nets.filter(([p]) => !p.includes(':')).map(([p, m]) => `  network ${p} route-map ${m}\n`).join('');
  const v6nets = nets.filter(([p]) => p.includes(':')).map(([p, m]) => `  network ${p} route-map ${m}\n`).join('');
  return `frr defaults datacenter
hostname ${spec.name}
!
${rm}router bgp ${spec.asn}
 bgp router-id ${v4}
 no bgp ebgp-requires-policy
 neighbor ${peerV4} remote-as ${routerAsn}
 neighbor ${peerV6} remote-as ${routerAsn}
 address-family ipv4 unicast
  no neighbor ${peerV6} activate
${v4nets} exit-address-family
 address-family ipv6 unicast
  neighbor ${peerV6} activate
${v6nets} exit-address-family
!
${spec.extraConfig ?? ''}
`;
}

/** The router; with `gshut` it honours RFC 8326 GRACEFUL_SHUTDOWN from the LBs as DESIGN.md says a
 *  router should: a path carrying 65535:0 gets local-preference 0. */
function routerConfig(asn: number, peers: { v4: string; v6: string; asn: number }[], routerId: string, gshut = false): string {
  const n4 = peers.map((p) => ` neighbor ${p.v4} remote-as ${p.asn}\n neighbor ${p.v6} remote-as ${p.asn}\n`).join('');
  const policy = gshut
    ? `bgp community-list standard GSHUT permit graceful-shutdown
route-map FROM-LB permit 10
 match community GSHUT
 set local-preference 0
exit
route-map FROM-LB permit 20
exit
!
`
    : '';
  const inV4 = gshut ? peers.map((p) => `  neighbor ${p.v4} route-map FROM-LB in\n`).join('') : '';
  const inV6 = gshut ? peers.map((p) => `  neighbor ${p.v6} route-map FROM-LB in\n`).join('') : '';
  return `frr defaults datacenter
hostname router
!
${policy}router bgp ${asn}
 bgp router-id ${routerId}
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
${n4} address-family ipv4 unicast
${inV4}${peers.map((p) => `  no neighbor ${p.v6} activate\n`).join('')} exit-address-family
 address-family ipv6 unicast
${peers.map((p) => `  neighbor ${p.v6} activate\n`).join('')}${inV6} exit-address-family
!
`;
}

/** Build and start the lab; resolves once every session is Established. */
export async function createBgpLab(opts: { lbs: LbSpec[]; router?: { asn: number; gshut?: boolean } }): Promise<BgpLab> {
  const id = randomBytes(3).toString('hex');
  const started: Started = { nses: [], pidfiles: [], dirs: [] };
  live.add(started);
  const dir = await mkdtemp(join(tmpdir(), `vip-frr-${id}-`));
  started.dirs.push(dir);
  // the daemons drop to the frr user and must reach their own directory below this one
  await chmod(dir, 0o755);
  const routerAsn = opts.router?.asn ?? 65000;

  const mkNode = async (name: string, asn: number, v4: string, v6: string): Promise<LabNode & { dir: string }> => {
    const ns = `vipl-${id}-${name}`;
    const ps = ns;
    await ip(['netns', 'add', ns]);
    started.nses.push(ns);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const d of [`/var/run/frr/${ps}`, `/etc/frr/${ps}`]) {
      await mkdir(d, { recursive: true });
      await chown(d, uid('frr'), gid('frr'));
      started.dirs.push(d);
    }
    // vtysh -N warns on stderr without its own vtysh.conf
    await writeFile(`/etc/frr/${ps}/vtysh.conf`, '');
    const nodeDir = join(dir, name);
    await mkdir(nodeDir);
    await chown(nodeDir, uid('frr'), gid('frr'));
    const vtysh = async (cmds: string[]) => (await run('vtysh', ['-N', ps, ...cmds.flatMap((c) => ['-c', c])], { maxBuffer: 256 << 20 })).stdout;
    return {
      name,
      ns,
      pathspace: ps,
      asn,
      v4,
      v6,
      dir: nodeDir,
      vtysh,
      json: async (cmd) => JSON.parse(await vtysh([cmd])),
      exec: async (argv) => (await run('ip', ['netns', 'exec', ns, ...argv], { maxBuffer: 64 << 20 })).stdout,
    };
  };

  const startDaemon = async (node: { ns: string; pathspace: string; dir: string }, daemon: 'zebra' | 'bgpd') => {
    const pidfile = join(node.dir, `${daemon}.pid`);
    await rm(pidfile, { force: true });
    await run('ip', ['netns', 'exec', node.ns, `${FRR}/${daemon}`, '-N', node.pathspace, '-d', '-f', join(node.dir, 'frr.conf'), '-i', pidfile]);
    if (!started.pidfiles.includes(pidfile)) started.pidfiles.push(pidfile);
    // -d returns once the daemon forked; wait for its vty socket so the next vtysh call works
    const sock = `/var/run/frr/${node.pathspace}/${daemon}.vty`;
    for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(50);
  };

  try {
    const routerNode = await mkNode('router', routerAsn, '198.51.100.2', '2001:db8:ffff:1::2');
    const lbs: Record<string, LabLb & { dir: string }> = {};
    const daemons = new Map<string, LbDaemon>();
    const peers: { v4: string; v6: string; asn: number }[] = [];
    for (const [i, spec] of opts.lbs.entries()) {
      const v4 = `198.51.100.${4 * i + 1}`;
      const peerV4 = `198.51.100.${4 * i + 2}`;
      const v6 = `2001:db8:ffff:${i + 1}::1`;
      const peerV6 = `2001:db8:ffff:${i + 1}::2`;
      const node = await mkNode(spec.name, spec.asn, v4, v6);
      const a = `vl${id}${i}a`;
      const b = `vl${id}${i}b`;
      await ip(['link', 'add', a, 'netns', node.ns, 'type', 'veth', 'peer', 'name', b, 'netns', routerNode.ns]);
      await ip(['-n', node.ns, 'addr', 'add', `${v4}/30`, 'dev', a]);
      await ip(['-n', node.ns, '-6', 'addr', 'add', `${v6}/64`, 'dev', a, 'nodad']);
      await ip(['-n', node.ns, 'link', 'set', a, 'up']);
      await ip(['-n', routerNode.ns, 'addr', 'add', `${peerV4}/30`, 'dev', b]);
      await ip(['-n', routerNode.ns, '-6', 'addr', 'add', `${peerV6}/64`, 'dev', b, 'nodad']);
      await ip(['-n', routerNode.ns, 'link', 'set', b, 'up']);
      for (const vip of spec.vips ?? []) {
        const plen = vip.includes(':') ? 128 : 32;
        await ip(['-n', node.ns, ...(plen === 128 ? ['-6'] : []), 'addr', 'add', `${vip}/${plen}`, 'dev', 'lo', ...(plen === 128 ? ['nodad'] : [])]);
      }
      const configFile = join(node.dir, 'frr.conf');
      await writeFile(configFile, lbConfig(spec, v4, v6, peerV4, peerV6, routerAsn));
      await chown(configFile, uid('frr'), gid('frr'));
      let speaker: LabLb['speaker'] = { kind: 'frr', bgp: { speaker: 'frr', vtysh: 'vtysh', pathspace: node.pathspace } };
      if (spec.daemon) {
        const d = await spec.daemon.create({
          id,
          name: spec.name,
          ns: node.ns,
          dir: node.dir,
          asn: spec.asn,
          v4,
          v6,
          peerV4,
          peerV6,
          routerAsn,
          trackPidfile: (f) => void (started.pidfiles.includes(f) || started.pidfiles.push(f)),
          trackPath: (p) => void started.dirs.push(p),
        });
        daemons.set(spec.name, d);
        speaker = { kind: spec.daemon.kind, bgp: d.bgp };
      }
      lbs[spec.name] = { ...node, peerV4, peerV6, configFile, v4, v6, speaker };
      peers.push({ v4, v6, asn: spec.asn });
    }
    const rconfFile = join(routerNode.dir, 'frr.conf');
    await writeFile(rconfFile, routerConfig(routerAsn, peers, '198.51.100.254', opts.router?.gshut ?? false));
    await chown(rconfFile, uid('frr'), gid('frr'));
    // FRR runs the router and every LB without a daemon of its own
    const frrNodes = [routerNode, ...Object.values(lbs).filter((lb) => !daemons.has(lb.name))];
    await Promise.all(frrNodes.map((n) => startDaemon(n, 'zebra')));
    await Promise.all(frrNodes.map((n) => startDaemon(n, 'bgpd')));
    await Promise.all([...daemons.values()].map((d) => d.start()));

    const peerName = new Map<string, string>();
    for (const lb of Object.values(lbs)) {
      peerName.set(lb.v4, lb.name);
      peerName.set(lb.v6, lb.name);
    }

    const routerRoute = async (prefix: string): Promise<RouterRoute | null> => {
      const fam = prefix.includes(':') ? 'ipv6' : 'ipv4';
      const j = await routerNode.json<any>(`show bgp ${fam} unicast ${prefix} json`);
      if (!j || !Array.isArray(j.paths) || j.paths.length === 0) return null;
      const paths: RoutePath[] = j.paths.map((p: any) => ({
        // by address first: a non-FRR LB's hostname capability names the machine, not the LB
        from: peerName.get(p.peer?.peerId) ?? p.peer?.hostname ?? '?',
        asPath: String(p.aspath?.string ?? '')
          .split(/\s+/)
          .filter(Boolean)
          .map(Number),
        best: Boolean(p.bestpath?.overall),
        valid: Boolean(p.valid),
        localPref: typeof p.locPrf === 'number' ? p.locPrf : typeof p.localpref === 'number' ? p.localpref : null,
        communities: String(p.community?.string ?? '').split(/\s+/).filter(Boolean),
      }));
      return { prefix, paths, best: paths.find((p) => p.best) ?? null };
    };

    const lab: BgpLab = {
      id,
      router: routerNode,
      lbs,
      routerRoute,
      async waitRoute(prefix, pred, timeoutMs = 15_000) {
        const until = Date.now() + timeoutMs;
        let last: RouterRoute | null = null;
        for (;;) {
          last = await routerRoute(prefix);
          if (pred(last)) return last;
          if (Date.now() > until) throw new Error(`router: ${prefix} did not reach the expected state in ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`);
          await sleep(100);
        }
      },
      async waitEstablished(timeoutMs = 30_000) {
        const until = Date.now() + timeoutMs;
        for (;;) {
          const [s4, s6] = await Promise.all([
            routerNode.json<any>('show bgp ipv4 unicast summary json'),
            routerNode.json<any>('show bgp ipv6 unicast summary json'),
          ]);
          const states = [...Object.values(s4.peers ?? {}), ...Object.values(s6.peers ?? {})].map((p: any) => p.state);
          if (states.length === 2 * opts.lbs.length && states.every((s) => s === 'Established')) return;
          if (Date.now() > until) throw new Error(`BGP sessions not established after ${timeoutMs} ms: ${JSON.stringify(states)}`);
          await sleep(200);
        }
      },
      async killBgpd(name) {
        const d = daemons.get(name);
        if (d) return d.kill();
        const lb = lbs[name]!;
        const pid = Number((await readFile(join(lb.dir, 'bgpd.pid'), 'utf8')).trim());
        process.kill(pid, 'SIGKILL');
        for (let i = 0; i < 100; i++) {
          try {
            process.kill(pid, 0);
          } catch {
            break;
          }
          await sleep(50);
        }
        await rm(`/var/run/frr/${lb.pathspace}/bgpd.vty`, { force: true });
      },
      async startBgpd(name) {
        const d = daemons.get(name);
        if (d) return d.start();
        await startDaemon(lbs[name]!, 'bgpd');
      },
      async destroy() {
        cleanupSync(started);
        live.delete(started);
      },
    };
    await lab.waitEstablished();
    return lab;
  } catch (e) {
    cleanupSync(started);
    live.delete(started);
    throw e;
  }
}

function uid(name: string): number {
  return Number(execFileSync('id', ['-u', name]).toString().trim());
}
function gid(name: string): number {
  return Number(execFileSync('id', ['-g', name]).toString().trim());
}
