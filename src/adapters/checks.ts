// Host health checks, the side effects: run one http/tcp/dns/exec check within its timeout, all of them once (cron), or each on its own interval (daemon).
//
// Every check resolves to an outcome, never throws and never outlives its timeout: a cron cycle
// runs them all concurrently before taking the lock (as it resolves DNS), so the slowest check
// bounds the wait. Exec checks get an argv array (no shell) in a process group of their own, and a
// timeout kills the whole group: a check script's children must not pile up once a minute.
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { checkLabel, type CheckConfig, type CheckOutcome, type CheckResults } from '../core/checks.js';
import { printable } from '../core/text.js';
import type { ServiceConfig } from '../config/schema.js';
import { oneTry } from './dns.js';

/** Most body bytes an http check reads looking for `expect`. */
const BODY_LIMIT = 64 * 1024;

type Finish = (ok: boolean, detail: string) => void;

/** A promise of an outcome that settles once, with the timeout armed. */
function bounded(timeoutMs: number, start: (finish: Finish) => () => void): Promise<CheckOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let cleanup: () => void = () => undefined;
    const finish: Finish = (ok, detail) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      resolve({ ok, detail, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs}ms`), timeoutMs);
    try {
      cleanup = start(finish);
    } catch (e) {
      finish(false, printable((e as Error).message));
    }
  });
}

const errText = (e: NodeJS.ErrnoException) => printable(e.code ?? e.message);

function httpCheck(c: Extract<CheckConfig, { type: 'http' }>): Promise<CheckOutcome> {
  return bounded(c.timeout, (finish) => {
    let req: http.ClientRequest | null = null;
    let over = false;
    const go = (ca: Buffer | undefined) => {
      if (over) return; // timed out while the CA file was read
      const u = new URL(c.url);
      const mod = u.protocol === 'https:' ? https : http;
      // no keep-alive agent: each check is a fresh connection, as a client arriving would make
      req = mod.get(u, { agent: false, ...(ca ? { ca } : {}), headers: { 'user-agent': 'vip-mgmt-check', connection: 'close' } }, (res) => {
        const code = res.statusCode ?? 0;
        if (code < 200 || code > 299) return finish(false, `HTTP ${code}`);
        if (!c.expect) return finish(true, `HTTP ${code}`);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
          if (body.includes(c.expect!)) finish(true, `HTTP ${code}`);
          else if (body.length > BODY_LIMIT) finish(false, `HTTP ${code}, "${printable(c.expect!)}" not in the first ${BODY_LIMIT} bytes`);
        });
        res.on('end', () => finish(body.includes(c.expect!), body.includes(c.expect!) ? `HTTP ${code}` : `HTTP ${code}, body lacks "${printable(c.expect!)}"`));
        res.on('error', (e) => finish(false, errText(e)));
      });
      req.on('error', (e) => finish(false, errText(e)));
    };
    if (c.ca) {
      readFile(c.ca).then(go, (e: NodeJS.ErrnoException) => finish(false, `CA file ${printable(c.ca!)}: ${errText(e)}`));
    } else go(undefined);
    return () => {
      over = true;
      (req as http.ClientRequest | null)?.destroy();
    };
  });
}

function tcpCheck(c: Extract<CheckConfig, { type: 'tcp' }>): Promise<CheckOutcome> {
  return bounded(c.timeout, (finish) => {
    const sock = net.connect({ host: c.target.host, port: c.target.port });
    sock.once('connect', () => finish(true, 'connected'));
    sock.once('error', (e) => finish(false, errText(e)));
    return () => sock.destroy();
  });
}

function dnsCheck(c: Extract<CheckConfig, { type: 'dns' }>): Promise<CheckOutcome> {
  return bounded(c.timeout, (finish) => {
    // the resolver's own query code: random id, answers only from the server asked, TCP on TC
    oneTry(c.server, c.name, c.qtype, c.timeout).then((r) => {
      if (r.kind === 'failed') return finish(false, r.failed.failure === 'timeout' ? `timeout after ${c.timeout}ms` : `${r.failed.failure}: ${printable(r.failed.detail)}`);
      if (r.kind !== 'answer') return finish(false, 'truncated');
      const { rcodeName, records } = r.reply;
      if (rcodeName !== 'NOERROR') return finish(false, rcodeName);
      finish(records.length > 0, records.length > 0 ? `NOERROR, ${records.length} record${records.length > 1 ? 's' : ''}` : 'NOERROR, no answer');
    }, (e: Error) => finish(false, printable(e.message)));
    return () => undefined;
  });
}

function execCheck(c: Extract<CheckConfig, { type: 'exec' }>): Promise<CheckOutcome> {
  return bounded(c.timeout, (finish) => {
    // detached: the child leads a new process group, so the timeout can kill its children too
    const child = spawn(c.argv[0], c.argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr!.on('data', (d: Buffer) => (tail = (tail + d.toString('utf8')).slice(-400)));
    child.once('error', (e) => finish(false, errText(e)));
    child.once('close', (code, signal) => {
      const last = tail.trim().split('\n').at(-1)?.slice(0, 120);
      const why = code !== null ? `exit ${code}` : `killed by ${signal}`;
      finish(code === 0, last && code !== 0 ? `${why} (${printable(last)})` : why);
    });
    return () => {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* the group is already gone */
        }
      }
    };
  });
}

/** Run one check; resolves within its timeout (plus scheduling), never rejects. */
export function runCheck(c: CheckConfig): Promise<CheckOutcome> {
  switch (c.type) {
    case 'http':
      return httpCheck(c);
    case 'tcp':
      return tcpCheck(c);
    case 'dns':
      return dnsCheck(c);
    case 'exec':
      return execCheck(c);
  }
}

type CheckedService = Pick<ServiceConfig, 'name' | 'checks'>;

/** Cron mode: every check of every service once, concurrently. */
export async function runAllChecks(services: readonly CheckedService[]): Promise<CheckResults> {
  const entries = await Promise.all(services.filter((s) => s.checks.length > 0).map(async (s) => [s.name, await Promise.all(s.checks.map(runCheck))] as const));
  return new Map(entries);
}

export interface CheckScheduler {
  /** the latest outcome of every check (a copy) */
  results(): CheckResults;
  /** when the latest change of any check's verdict was seen (performance.now()), for latency */
  lastChange(): number;
  stop(): void;
}

export interface ScheduleOptions {
  /** interval of a check without its own */
  defaultIntervalMs: number;
  /** called when a check's pass/fail verdict changes, and on the next `confirm` runs after it: the
   *  watchdog's rise/fall count cycles, so a change is confirmed by that many more cycles at the
   *  check's own pace instead of waiting for the daemon's period */
  onChange: () => void;
  confirm: number;
}

/** Daemon mode: each check on its own interval (the next run starts one interval after the last
 *  one started, never overlapping it). The first outcome of each check counts as a change. */
export function scheduleChecks(services: readonly CheckedService[], opts: ScheduleOptions): CheckScheduler {
  const results = new Map<string, (CheckOutcome | undefined)[]>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let changed = performance.now();
  for (const s of services) {
    if (s.checks.length === 0) continue;
    const list: (CheckOutcome | undefined)[] = s.checks.map(() => undefined);
    results.set(s.name, list);
    s.checks.forEach((c, i) => {
      const every = c.interval ?? opts.defaultIntervalMs;
      let hot = 0;
      const tick = async () => {
        const t0 = performance.now();
        const o = await runCheck(c);
        if (stopped) return;
        const before = list[i];
        list[i] = o;
        if (!before || before.ok !== o.ok) {
          changed = performance.now();
          hot = opts.confirm;
          opts.onChange();
        } else if (hot > 0) {
          hot--;
          opts.onChange();
        }
        const t = setTimeout(() => {
          timers.delete(t);
          void tick();
        }, Math.max(0, every - (performance.now() - t0)));
        timers.add(t);
      };
      void tick();
    });
  }
  return {
    results: () => new Map([...results].map(([k, v]) => [k, [...v]])),
    lastChange: () => changed,
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

export interface RunnableProblem {
  path: (string | number)[];
  message: string;
}

/** What the schema cannot see: an exec check's program missing or not executable, an https
 *  check's CA file unreadable. A check that cannot run is a configuration error (exit 3). */
export async function unrunnableChecks(services: readonly CheckedService[]): Promise<RunnableProblem[]> {
  const out: RunnableProblem[] = [];
  await Promise.all(
    services.flatMap((s, i) =>
      s.checks.map(async (c, j) => {
        const at = ['services', i, 'checks', j];
        if (c.type === 'exec') {
          const file = c.argv[0];
          const st = await stat(file).catch((e: NodeJS.ErrnoException) => e);
          if (st instanceof Error) out.push({ path: [...at, 'argv', 0], message: `${printable(file)}: ${st.code === 'ENOENT' ? 'not found' : errText(st)} (${checkLabel(c)})` });
          else if (!st.isFile()) out.push({ path: [...at, 'argv', 0], message: `${printable(file)} is not a file` });
          else if (await access(file, fsc.X_OK).then(() => false, () => true)) out.push({ path: [...at, 'argv', 0], message: `${printable(file)} is not executable` });
        }
        if (c.type === 'http' && c.ca) {
          const bad = await access(c.ca, fsc.R_OK).then(() => null, (e: NodeJS.ErrnoException) => e);
          if (bad) out.push({ path: [...at, 'ca'], message: `CA file ${printable(c.ca)}: ${bad.code === 'ENOENT' ? 'not found' : errText(bad)}` });
        }
      }),
    ),
  );
  return out.sort((a, b) => (a.path.join('.') < b.path.join('.') ? -1 : 1));
}
