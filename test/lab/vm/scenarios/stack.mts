// The load-balancer stack the VM scenarios share (runs INSIDE the IPVS VM, see ../README.md):
//
//   rs1, rs2 ──veth── lb ──veth── router
//   busybox httpd    keepalived (HTTP_GET, inhibit_on_failure) -> IPVS; dnsmasq on 127.0.0.1:53;
//                    FRR lb (AS 64512); vip-mgmt run via `ip netns exec lb`
//
// A scenario builds it with createStack(), adds what it needs (static ipvsadm services, configs),
// records what it observed into a result object and leaves the asserting to the host-side test;
// runScenario() writes that record to $VM_OUT/result.json whatever happens and tears down.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, type BgpLab, type LabLb } from '../../frr.ts';
import { labConfig, runCli, writeConfig, type CliResult, type LabConfig } from '../../cli.ts';

const run = promisify(execFile);
export const OUT = process.env.VM_OUT ?? '/tmp';

// Links and real servers in TEST-NET-3: documentation ranges only.
export const RS1 = '203.0.113.2';
export const RS2 = '203.0.113.6';

/** One keepalived virtual server: TCP VIP:port (NAT, rr) over both real servers' port 80, HTTP-checked. */
export interface KaService {
  vip: string;
  port: number;
}

export interface StackOptions {
  /** addresses on the LB's lo (VIPs it may announce) */
  vips: string[];
  /** keepalived's virtual servers */
  keepalived: KaService[];
  /** dnsmasq --host-record entries (several for one name give several addresses) */
  hosts: [name: string, addr: string][];
  cnames?: [alias: string, target: string][];
}

export interface RealServer {
  ns: string;
  addr: string;
  httpd: ChildProcess | null;
}

/** keepalived, health checks only (-C), as one process this stack started and can stop by its pid. */
export interface Keepalived {
  /** pid of the running keepalived parent (the process `ip netns exec` became), null when stopped */
  readonly pid: number | null;
  /** the last 20 kB of its console log over every start */
  readonly log: string;
  /** start it (it must not be running) */
  start(): void;
  /** SIGTERM to exactly the pid started, resolves when it has exited (ms from signal to exit) */
  stop(): Promise<number>;
  /** weights of VIP:port's real servers, from the kernel ([] when the service is not there) */
  weights(svc: KaService): Promise<number[]>;
  /** wait until every keepalived service has these weights; ms waited */
  waitWeights(want: number[], timeoutMs?: number): Promise<number>;
}

export interface Daemon {
  proc: ChildProcess;
  /** stderr so far (the log lines) */
  stderr(): string;
  /** stdout so far */
  stdout(): string;
  /** SIGTERM, resolves with the exit code */
  stop(): Promise<number | null>;
}

export interface Stack {
  dir: string;
  lab: BgpLab;
  lb: LabLb;
  /** argv prefix running a command in the LB's namespace */
  inLb: string[];
  sh(argv: string[]): Promise<string>;
  ipvsadm(...args: string[]): Promise<string>;
  rs: RealServer[];
  startHttpd(r: RealServer): void;
  stopHttpd(r: RealServer): Promise<void>;
  keepalived: Keepalived;
  /** /proc/PID/net/ip_vs of a long-lived process in the LB's namespace: the LB's table, read without a fork */
  ipvsPath: string;
  readIpvs(): Promise<string>;
  /** labConfig for this stack (DNS on 127.0.0.1:53 inside the LB, generous timeouts for tcg) */
  config(c: Pick<LabConfig, 'services' | 'datacenters'> & { watchdog?: Record<string, unknown>; stateDir?: string }): Record<string, unknown>;
  writeConfig(config: Record<string, unknown>, name?: string): Promise<string>;
  /** the built CLI inside the LB namespace */
  cli(args: string[], config: string): Promise<CliResult>;
  /** the built CLI as a long-running process inside the LB namespace (e.g. watchdog --every 1s) */
  spawnCli(args: string[], config: string): Daemon;
  /** every child this stack started, killed by destroy() */
  children: ChildProcess[];
  destroy(): Promise<void>;
}

const started: { children: ChildProcess[]; destroy: (() => Promise<void>) | null } = { children: [], destroy: null };

export async function createStack(opts: StackOptions): Promise<Stack> {
  const dir = await mkdtemp('/tmp/vip-wd-');
  const children = started.children;
  const lab = await createBgpLab({
    lbs: [{ name: 'lab1', asn: 64512, vips: opts.vips, ranks: 4 }],
    router: { asn: 65000 },
  });
  const lb = lab.lbs.lab1!;
  const inLb = ['ip', 'netns', 'exec', lb.ns];
  const sh = (argv: string[]) => run(argv[0]!, argv.slice(1), { maxBuffer: 64 << 20 }).then((r) => r.stdout);
  const ipvsadm = (...args: string[]) => sh([...inLb, 'ipvsadm', ...args]);
  const rs: RealServer[] = [];
  started.destroy = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const r of rs) await sh(['ip', 'netns', 'del', r.ns]).catch(() => undefined);
    await lab.destroy();
  };

  // Real servers: one namespace each, a /30 to the LB, busybox httpd on port 80.
  for (const [i, addr] of [RS1, RS2].entries()) {
    const ns = `${lb.ns}-rs${i + 1}`;
    const a = `vw${lab.id}${i}a`;
    const b = `vw${lab.id}${i}b`;
    const lbSide = `203.0.113.${4 * i + 1}`;
    await sh(['ip', 'netns', 'add', ns]);
    rs.push({ ns, addr, httpd: null });
    await sh(['ip', 'link', 'add', a, 'netns', lb.ns, 'type', 'veth', 'peer', 'name', b, 'netns', ns]);
    await sh(['ip', '-n', lb.ns, 'addr', 'add', `${lbSide}/30`, 'dev', a]);
    await sh(['ip', '-n', lb.ns, 'link', 'set', a, 'up']);
    await sh(['ip', '-n', ns, 'addr', 'add', `${addr}/30`, 'dev', b]);
    await sh(['ip', '-n', ns, 'link', 'set', b, 'up']);
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await mkdir(join(dir, `www${i}`));
    await writeFile(join(dir, `www${i}`, 'index.html'), `rs${i + 1}\n`);
  }
  const startHttpd = (r: RealServer) => {
    const i = rs.indexOf(r);
    r.httpd = spawn('ip', ['netns', 'exec', r.ns, 'busybox', 'httpd', '-f', '-p', `${r.addr}:80`, '-h', join(dir, `www${i}`)], { stdio: 'ignore' });
    children.push(r.httpd);
  };
  const stopHttpd = async (r: RealServer) => {
    const c = r.httpd!;
    r.httpd = null;
    const exited = new Promise((res) => c.once('exit', res));
    c.kill('SIGKILL');
    await exited;
  };
  rs.forEach(startHttpd);

  // keepalived: health checks only (-C), HTTP_GET every second, weight 0 on failure.
  const realServer = (addr: string) => `  real_server ${addr} 80 {
    weight 1
    inhibit_on_failure
    HTTP_GET {
      url {
        path /index.html
        status_code 200
      }
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
`;
  const kaConf = join(dir, 'keepalived.conf');
  await writeFile(
    kaConf,
    `global_defs {
  router_id vip-lab
}
${opts.keepalived
  .map(
    (s) => `virtual_server ${s.vip} ${s.port} {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
${realServer(RS1)}${realServer(RS2)}}
`,
  )
  .join('')}`,
  );
  let kaLog = '';
  let ka: ChildProcess | null = null;
  const kaWeights = async (s: KaService): Promise<number[]> => {
    const out = await ipvsadm('-L', '-n', '-t', `${s.vip}:${s.port}`).catch(() => '');
    return [...out.matchAll(/->\s+203\.0\.113\.\d+:80\s+\S+\s+(\d+)/g)].map((m) => Number(m[1]));
  };
  const keepalived: Keepalived = {
    get pid() {
      return ka?.pid ?? null;
    },
    get log() {
      return kaLog;
    },
    start() {
      if (ka) throw new Error('keepalived is already running');
      const p = spawn(
        'ip',
        ['netns', 'exec', lb.ns, 'keepalived', '-n', '-l', '-D', '-C', '-f', kaConf, '-p', join(dir, 'ka.pid'), '-c', join(dir, 'kac.pid'), '-r', join(dir, 'kav.pid')],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(p);
      for (const s of [p.stdout!, p.stderr!]) s.on('data', (d: Buffer) => (kaLog = (kaLog + d.toString()).slice(-20_000)));
      p.once('exit', () => {
        if (ka === p) ka = null;
      });
      ka = p;
    },
    async stop() {
      const p = ka;
      if (!p) throw new Error('keepalived is not running');
      const exited = new Promise((res) => p.once('exit', res));
      const t0 = performance.now();
      process.kill(p.pid!, 'SIGTERM'); // `ip netns exec` execs keepalived: this pid is keepalived's parent
      await exited;
      return performance.now() - t0;
    },
    weights: kaWeights,
    async waitWeights(want, timeoutMs = 60_000) {
      const t0 = Date.now();
      for (;;) {
        const all = await Promise.all(opts.keepalived.map(kaWeights));
        if (all.every((w) => JSON.stringify(w) === JSON.stringify(want))) return Date.now() - t0;
        if (Date.now() - t0 > timeoutMs) throw new Error(`keepalived weights ${JSON.stringify(all)}, want ${JSON.stringify(want)} each\n${kaLog}`);
        await sleep(100);
      }
    },
  };
  keepalived.start();
  await keepalived.waitWeights([1, 1]);

  // DNS inside the LB namespace (the watchdog runs there).
  let dnsLog = '';
  const dns = spawn(
    'ip',
    [
      'netns', 'exec', lb.ns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file=',
      '--port=53', '--listen-address=127.0.0.1', '--bind-interfaces', '--user=root', '--log-facility=-', '--local=/vm.test/', '--local-ttl=1',
      ...(opts.cnames ?? []).map(([a, t]) => `--cname=${a},${t}`),
      ...opts.hosts.map(([n, a]) => `--host-record=${n},${a}`),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(dns);
  dns.stderr!.on('data', (d: Buffer) => (dnsLog += d.toString()));
  for (let i = 0; i < 100 && !/started, version/.test(dnsLog); i++) await sleep(50);
  // dnsmasq runs in the LB's namespace for the whole scenario (`ip netns exec` execs it)
  const ipvsPath = `/proc/${dns.pid}/net/ip_vs`;

  const stateDir = join(dir, 'state');
  const stack: Stack = {
    dir,
    lab,
    lb,
    inLb,
    sh,
    ipvsadm,
    rs,
    startHttpd,
    stopHttpd,
    keepalived,
    ipvsPath,
    readIpvs: () => readFile(ipvsPath, 'utf8'),
    config: (c) => ({
      ...labConfig({ dc: 'lab1', pathspace: lb.pathspace, dnsPort: 53, stateDir: c.stateDir ?? stateDir, datacenters: c.datacenters, services: c.services }),
      // Generous timeouts: everything runs under software emulation.
      dns: { servers: ['127.0.0.1:53'], timeout: '3s', attempts: 2 },
      ...(c.watchdog ? { watchdog: c.watchdog } : {}),
    }),
    writeConfig: (config, name) => writeConfig(dir, config, name),
    cli: (args, config) => runCli(['-c', config, ...args], { prefix: inLb, timeoutMs: 120_000 }),
    spawnCli(args, config) {
      let out = '';
      let err = '';
      const proc = spawn(inLb[0]!, [...inLb.slice(1), process.execPath, join(process.cwd(), 'bin', 'vip-mgmt'), '-c', config, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      children.push(proc);
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exit = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
      return {
        proc,
        stdout: () => out,
        stderr: () => err,
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          return exit;
        },
      };
    },
    children,
    destroy: () => started.destroy!(),
  };
  return stack;
}

/**
 * Run a scenario: `main` fills `result`; a throw lands in result.error. result.json is written to
 * $VM_OUT whatever happens, everything started is killed, and the process exits 0 (the host-side
 * test decides what passed).
 */
export async function runScenario<R extends { error?: string }>(result: R, main: () => Promise<void>): Promise<never> {
  try {
    await main();
  } catch (e) {
    result.error = String((e as Error)?.stack ?? e);
  } finally {
    await started.destroy?.().catch(() => undefined);
    for (const c of started.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await writeFile(join(OUT, 'result.json'), JSON.stringify(result, null, 1));
  }
  console.log(result.error ? `scenario failed: ${result.error}` : 'scenario done');
  process.exit(0);
}
