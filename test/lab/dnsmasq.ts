// Lab harness: a real dnsmasq on 127.0.0.1 with given records, plus a real server that answers SERVFAIL.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import dnsPacket from 'dns-packet';
import { which } from './prereq.ts';

export interface DnsRecords {
  /** [alias, target]: dnsmasq answers the whole chain in one response. */
  cname?: [string, string][];
  /** [name, ...addresses]: one --host-record per address, since one line holds one per family. */
  hosts?: [string, ...string[]][];
}

export interface DnsmasqOptions {
  records: DnsRecords;
  /** TTL of every answer (--local-ttl); dnsmasq's default for its own records is 0. */
  ttl?: number;
  /** Domains served locally, so that an unknown name under them is NXDOMAIN. Default: the parent
   *  domain of every record name. A name under no such domain gets REFUSED (there is no upstream). */
  domains?: string[];
  /** Extra dnsmasq arguments (e.g. --server=... or --dnssec). */
  extraArgs?: string[];
}

export interface LabDns {
  host: '127.0.0.1';
  port: number;
  /** SIGTERM exactly our process and wait for it to exit. */
  stop(): Promise<void>;
  /** Start again on the same port with the same arguments. */
  restart(): Promise<void>;
  /** dnsmasq's own log (queries included), for failure messages. */
  log(): string;
}

const running = new Set<ChildProcess>();
// A test that fails before its after() hook must not leave a daemon behind.
process.on('exit', () => {
  for (const c of running) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
});

/** A port free for both UDP and TCP on 127.0.0.1 right now (dnsmasq needs both). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = randomInt(20000, 60000);
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => {
        const t = net.createServer();
        t.once('error', () => u.close(() => resolve(false)));
        t.listen(port, '127.0.0.1', () => t.close(() => u.close(() => resolve(true))));
      });
    });
    if (ok) return port;
  }
  throw new Error('no free port found on 127.0.0.1');
}

/** One UDP query; resolves with the decoded answer, or null after timeoutMs. */
export async function ask(port: number, name: string, type: 'A' | 'AAAA' = 'A', timeoutMs = 500): Promise<dnsPacket.DecodedPacket | null> {
  const id = randomInt(0, 0x10000);
  const sock = dgram.createSocket('udp4');
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      sock.on('error', () => {
        clearTimeout(timer);
        resolve(null);
      });
      sock.on('message', (msg) => {
        try {
          const p = dnsPacket.decode(msg);
          if (p.id !== id) return;
          clearTimeout(timer);
          resolve(p);
        } catch {
          /* not ours */
        }
      });
      sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }), port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

const parentOf = (name: string): string | null => {
  const i = name.indexOf('.');
  return i > 0 && i < name.length - 1 ? name.slice(i + 1) : null;
};

function recordArgs(opts: DnsmasqOptions): string[] {
  const args: string[] = [];
  const names: string[] = [];
  for (const [alias, target] of opts.records.cname ?? []) {
    args.push(`--cname=${alias},${target}`);
    names.push(alias, target);
  }
  for (const [name, ...addrs] of opts.records.hosts ?? []) {
    for (const a of addrs) args.push(`--host-record=${name},${a}`);
    names.push(name);
  }
  const domains = opts.domains ?? [...new Set(names.map(parentOf).filter((d): d is string => d !== null))];
  for (const d of domains) args.push(`--local=/${d}/`);
  if (opts.ttl !== undefined) args.push(`--local-ttl=${opts.ttl}`);
  return [...args, ...(opts.extraArgs ?? [])];
}

/** Run dnsmasq with exactly these arguments on a free port of 127.0.0.1; resolves when it answers. */
async function launch(extra: string[]): Promise<LabDns> {
  const bin = which('dnsmasq');
  if (!bin) throw new Error('dnsmasq not found (apt-get install dnsmasq-base)');
  let child: ChildProcess | null = null;
  let log = '';
  let port = await freePort();

  // MAY_MOVE: a first start may take another port when the one picked free was taken before
  // dnsmasq bound it; a restart must keep its port (clients were told it), so it waits instead.
  const start = async (mayMove: boolean): Promise<void> => {
    for (let tries = 0; ; tries++) {
      const args = [
        '--keep-in-foreground',
        '--conf-file=/dev/null', // not the host's /etc/dnsmasq.conf
        '--no-resolv',
        '--no-hosts',
        '--pid-file=', // no pid file: we hold the pid ourselves
        `--port=${port}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--log-queries',
        '--log-facility=-', // to stderr, kept for failure messages
        ...(process.getuid?.() === 0 ? ['--user=root'] : []), // no switch to "nobody" (missing in containers)
        ...extra,
      ];
      const c = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      running.add(c);
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.once('exit', () => running.delete(c));
      c.stderr!.setEncoding('utf8');
      c.stderr!.on('data', (d: string) => {
        log = (log + d).slice(-20_000);
      });
      for (let i = 0; i < 100 && c.exitCode === null && c.signalCode === null; i++) {
        // Any answer will do, REFUSED included: it proves dnsmasq is bound and serving.
        if (await ask(port, 'ready.invalid', 'A', 100)) return;
      }
      c.kill('SIGKILL');
      await exited;
      if (/Address already in use/.test(log) && tries < 5) {
        if (mayMove) port = await freePort();
        else await sleep(200);
        continue;
      }
      throw new Error(`dnsmasq did not start on 127.0.0.1:${port}: ${log.slice(-2000)}`);
    }
  };

  const stop = async (): Promise<void> => {
    const c = child as ChildProcess | null;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const killer = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(killer);
  };

  await start(true);
  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    stop,
    async restart() {
      await stop();
      await start(false);
    },
    log: () => log,
  };
}

/** A dnsmasq serving RECORDS on 127.0.0.1 (free port). */
export function startDnsmasq(opts: DnsmasqOptions): Promise<LabDns> {
  return launch(recordArgs(opts));
}

// The root zone's KSK-2017 trust anchor (public, from IANA's root-anchors.xml).
const ROOT_TRUST_ANCHOR = '.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D';

/**
 * A real server that answers SERVFAIL for every name under DOMAINS (default servfail.test).
 * Measured with dnsmasq 2.90: forwarding to a closed port gives no answer at all (the client times
 * out: no SERVFAIL), and a forward that cannot be sent (port 0) answers REFUSED. What does give
 * SERVFAIL is a validating dnsmasq (--dnssec, root trust anchor) forwarding to an unsigned
 * upstream: it cannot prove the zone insecure (its log: "validation of test failed: resource limit
 * exceeded", "ABANDONED") and answers SERVFAIL whatever the upstream said (NOERROR, NODATA,
 * NXDOMAIN). The upstream must be a default --server: behind --server=/domain/ the upstream's
 * NXDOMAIN came back unvalidated. Names outside DOMAINS come back REFUSED (the upstream has none).
 * Two dnsmasq processes; stop() ends both.
 */
export async function startServfailDns(opts: { domains?: string[] } = {}): Promise<LabDns> {
  const domains = opts.domains ?? ['servfail.test'];
  const upstream = await startDnsmasq({ records: {}, domains });
  const front = await launch([
    `--server=127.0.0.1#${upstream.port}`,
    '--dnssec',
    `--trust-anchor=${ROOT_TRUST_ANCHOR}`,
  ]).catch(async (e: unknown) => {
    await upstream.stop();
    throw e;
  });
  return {
    host: '127.0.0.1',
    get port() {
      return front.port;
    },
    async stop() {
      await front.stop();
      await upstream.stop();
    },
    async restart() {
      await upstream.restart();
      await front.restart();
    },
    log: () => `${front.log()}\n--- upstream ---\n${upstream.log()}`,
  };
}
