// Lab harness: a real 3-member etcd cluster (Debian etcd-server) and a dnsmasq on a management bridge in their own network namespace, which LB namespaces join through a veth.
//
// Topology: namespace vipm-<id> holds a bridge with 203.0.113.1..3 (the members) and
// 203.0.113.53 (dnsmasq, so that a vip-mgmt run inside an LB namespace resolves names); attach(ns)
// adds a veth from the bridge into an LB namespace with the next 203.0.113.x. Members use short
// raft timers (heartbeat 50 ms, election 500 ms). Every process is started here and stopped by its
// pid; destroy() deletes the namespace, which takes the bridge and veths with it.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);
export const ETCD_LAB_COMMANDS = ['etcd', 'etcdctl', 'ip', 'dnsmasq'];

export interface EtcdLab {
  ns: string;
  endpoints: string[];
  dnsServer: string;
  /** pid of member i (0-based) while it runs */
  pid(i: number): number | null;
  /** SIGKILL member i (by its pid) and wait for it to be gone */
  kill(i: number): Promise<void>;
  /** start member i again on its data dir */
  start(i: number): Promise<void>;
  /** wait until the cluster answers a linearizable read through every running member */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** join namespace NS to the management segment; returns its address there */
  attach(ns: string): Promise<string>;
  /** etcdctl inside the management namespace */
  etcdctl(args: string[]): Promise<string>;
  destroy(): Promise<void>;
}

const children = new Set<ChildProcess>();
const namespaces = new Set<string>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
  for (const ns of namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
});

const ip = (args: string[]) => run('ip', args);

export async function createEtcdLab(opts: { records: [string, string][] }): Promise<EtcdLab> {
  const id = randomBytes(3).toString('hex');
  const ns = `vipm-${id}`;
  const br = `vmb${id}`;
  const dir = await mkdtemp(join(tmpdir(), `vip-etcd-${id}-`));
  const members = [1, 2, 3].map((i) => ({ name: `e${i}`, ip: `203.0.113.${i}`, dataDir: join(dir, `e${i}`), child: null as ChildProcess | null, log: '' }));
  let dns: ChildProcess | null = null;
  let next = 11;
  let links = 0;
  await ip(['netns', 'add', ns]);
  namespaces.add(ns);
  const cluster = members.map((m) => `${m.name}=http://${m.ip}:2380`).join(',');

  const start = async (i: number) => {
    const m = members[i]!;
    await mkdir(m.dataDir, { recursive: true, mode: 0o700 });
    const args = [
      'netns', 'exec', ns, 'etcd',
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `http://${m.ip}:2379`,
      '--advertise-client-urls', `http://${m.ip}:2379`,
      '--listen-peer-urls', `http://${m.ip}:2380`,
      '--initial-advertise-peer-urls', `http://${m.ip}:2380`,
      '--initial-cluster', cluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `vip-${id}`,
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
    ];
    // `ip netns exec` execs etcd itself: the pid is etcd's
    const c = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    m.child = c;
    children.add(c);
    c.once('exit', () => children.delete(c));
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (d: string) => {
      m.log = (m.log + d).slice(-20_000);
    });
  };

  const lab: EtcdLab = {
    ns,
    endpoints: members.map((m) => `http://${m.ip}:2379`),
    dnsServer: '203.0.113.53:53',
    pid: (i) => members[i]!.child?.pid ?? null,
    async kill(i) {
      const c = members[i]!.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((res) => c.once('exit', () => res()));
      c.kill('SIGKILL');
      await gone;
      members[i]!.child = null;
    },
    start,
    async waitHealthy(timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      const up = members.filter((m) => m.child).map((m) => `http://${m.ip}:2379`);
      for (;;) {
        try {
          // a linearizable read through each running member: each must reach the leader
          for (const e of up) await run('ip', ['netns', 'exec', ns, 'etcdctl', '--endpoints', e, '--command-timeout', '1s', 'get', 'health-probe']);
          return;
        } catch (e) {
          if (Date.now() > until) throw new Error(`etcd not healthy after ${timeoutMs} ms: ${(e as Error).message}\n${members.map((m) => m.log.slice(-1500)).join('\n---\n')}`);
          await sleep(200);
        }
      }
    },
    async attach(lbNs) {
      const addr = `203.0.113.${next++}`;
      const a = `vm${id}${links}a`;
      const b = `vm${id}${links}b`;
      links++;
      await ip(['link', 'add', a, 'netns', ns, 'type', 'veth', 'peer', 'name', b, 'netns', lbNs]);
      await ip(['-n', ns, 'link', 'set', a, 'master', br]);
      await ip(['-n', ns, 'link', 'set', a, 'up']);
      await ip(['-n', lbNs, 'addr', 'add', `${addr}/24`, 'dev', b]);
      await ip(['-n', lbNs, 'link', 'set', b, 'up']);
      return addr;
    },
    etcdctl: async (args) => (await run('ip', ['netns', 'exec', ns, 'etcdctl', '--endpoints', lab.endpoints.join(','), ...args])).stdout,
    async destroy() {
      for (const [i] of members.entries()) await lab.kill(i);
      if (dns && dns.exitCode === null) {
        const gone = new Promise<void>((res) => dns!.once('exit', () => res()));
        dns.kill('SIGTERM');
        await gone;
      }
      await ip(['netns', 'del', ns]).catch(() => undefined);
      namespaces.delete(ns);
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', ns, 'link', 'add', br, 'type', 'bridge']);
    await ip(['-n', ns, 'link', 'set', br, 'up']);
    for (const a of [...members.map((m) => m.ip), '203.0.113.53']) await ip(['-n', ns, 'addr', 'add', `${a}/24`, 'dev', br]);
    // dnsmasq on the segment: a vip-mgmt run inside an LB namespace cannot reach the host's 127.0.0.1
    const dnsArgs = [
      'netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file=',
      '--port=53', '--listen-address=203.0.113.53', '--bind-interfaces', '--local-ttl=30', '--log-facility=-',
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ...opts.records.map(([name, addr]) => `--host-record=${name},${addr}`),
      ...[...new Set(opts.records.map(([n]) => n.split('.').slice(1).join('.')))].map((d) => `--local=/${d}/`),
    ];
    dns = spawn('ip', dnsArgs, { stdio: ['ignore', 'ignore', 'ignore'] });
    children.add(dns);
    for (const [i] of members.entries()) await start(i);
    await lab.waitHealthy();
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}
