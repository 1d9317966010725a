// Logging: pino events to stderr (plain SPEC wording, or JSON lines), copied to syslog through one `logger` child per run.
import { spawn, type ChildProcess } from 'node:child_process';
import pino from 'pino';
import type { Log, LogFields } from '../core/types.js';
import { escapeUnsafe } from '../core/text.js';

export interface LogOptions {
  /** What reaches syslog (the config's log.level), and stderr too unless stderrLevel is given. */
  level: string;
  /** stderr only: -q and -v move this one, never what syslog gets (cron and the units run -q). */
  stderrLevel?: string;
  json: boolean; // JSON lines on stderr instead of plain text
  syslog: boolean;
  tag: string;
  color: boolean;
  /** where plain/JSON lines go (stderr by default; tests pass their own) */
  write?: (line: string) => void;
  /** the util-linux logger program (tests pass their own) */
  logger?: string;
}

// syslog severities (RFC 5424) of pino's levels; the facility is always daemon (3).
const SEVERITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };
const DAEMON = 3;
const PLAIN_PREFIX: Record<number, string> = { 40: 'warning: ', 50: 'error: ', 60: 'fatal: ' };
/** Longest message handed to logger (UTF-16 units, so at most ~12 KB of UTF-8, inside --size):
 *  a longer line would be split by logger into a second message without our priority. */
const MAX_SYSLOG_CHARS = 4000;
const LOGGER_SIZE = '16384';
/** How long flush() waits for logger to hand its lines over before giving up on it. */
const FLUSH_TIMEOUT_MS = 5000;

/** Text that came from outside (DNS names above all) made safe for one line of plain text or
 *  syslog: core/text.ts's rule. JSON output needs none of this (JSON escapes). */
export const escapeLogText = escapeUnsafe;

/** A pino level name or number as a number ('silent' = nothing). */
function levelValue(level: string): number {
  if (level === 'silent') return Infinity;
  return pino.levels.values[level] ?? 30;
}

export interface LogHandle extends Log {
  /** Hand every queued syslog message over and close the logger child (a later line starts a new one). */
  flush(): Promise<void>;
}

/**
 * One `logger -t TAG --prio-prefix` child (util-linux: node cannot write to the /dev/log datagram
 * socket), started at the first line and fed "<PRI>message" lines on stdin. The child and its pipe
 * do not hold the process open; flush() does, until logger has sent everything.
 */
function syslogPipe(opts: { tag: string; logger: string; warn: (msg: string) => void }) {
  let child: ChildProcess | null = null;
  let closed: Promise<void> | null = null;
  let broken = false;

  const start = (): ChildProcess => {
    const argv = ['-t', opts.tag, '--prio-prefix', '-p', 'daemon.info', '--size', LOGGER_SIZE];
    const c = spawn(opts.logger, argv, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => void (stderr = (stderr + d).slice(-500)));
    c.stdin!.on('error', () => {}); // EPIPE when logger died: reported by 'close' below
    closed = new Promise<void>((resolve) => {
      c.on('error', (e: NodeJS.ErrnoException) => {
        broken = true; // no logger: stop trying for this run, say so once
        opts.warn(`syslog: cannot run ${opts.logger} (${e.code ?? e.message}); log lines go to stderr only`);
        resolve();
      });
      c.on('close', (code, signal) => {
        if (code !== 0 && !broken && c !== stopping) {
          opts.warn(`syslog: ${opts.logger} -t ${opts.tag} exited ${code ?? signal}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`);
        }
        resolve();
      });
    });
    c.unref();
    (c.stdin as unknown as { unref(): void }).unref();
    return c;
  };

  let stopping: ChildProcess | null = null;
  let closing: Promise<void> = Promise.resolve();

  const stop = async (c: ChildProcess, done: Promise<void>): Promise<void> => {
    c.ref();
    (c.stdin as unknown as { ref(): void }).ref();
    c.stdin!.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), FLUSH_TIMEOUT_MS)));
    if ((await Promise.race([done, late])) === 'late') {
      opts.warn(`syslog: ${opts.logger} did not finish in ${FLUSH_TIMEOUT_MS} ms (is the syslog daemon stuck?); stopping it`);
      stopping = c;
      c.kill('SIGKILL');
      await done;
    }
    clearTimeout(timer);
  };

  return {
    send(level: number, msg: string): void {
      if (broken) return;
      child ??= start();
      const text = msg.length > MAX_SYSLOG_CHARS ? `${msg.slice(0, MAX_SYSLOG_CHARS)}...(cut)` : msg;
      child.stdin!.write(`<${DAEMON * 8 + (SEVERITY[level] ?? 6)}>${text}\n`);
    },
    close(): Promise<void> {
      if (child && closed) {
        closing = stop(child, closed);
        child = null;
        closed = null;
      }
      return closing;
    },
  };
}

export function createLog(opts: LogOptions): LogHandle {
  const write = opts.write ?? ((l: string) => process.stderr.write(l));
  const stderrAt = levelValue(opts.stderrLevel ?? opts.level);
  const syslogAt = opts.syslog ? levelValue(opts.level) : Infinity;
  const syslog = syslogPipe({ tag: opts.tag, logger: opts.logger ?? 'logger', warn: (m) => write(opts.json ? `${JSON.stringify({ level: 40, msg: m })}\n` : `warning: ${m}\n`) });

  const stream = {
    write(line: string) {
      const o = JSON.parse(line) as { level: number; msg: string } & Record<string, unknown>;
      if (o.level >= stderrAt) write(opts.json ? line : `${PLAIN_PREFIX[o.level] ?? ''}${escapeLogText(o.msg)}\n`);
      if (o.level >= syslogAt) syslog.send(o.level, escapeLogText(o.msg));
    },
  };
  // pino drops what neither destination wants before building the line
  const floor = Math.min(stderrAt, syslogAt);
  const level = floor === Infinity ? 'silent' : (pino.levels.labels[floor] ?? 'info');
  const logger = pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, stream);

  const wrap =
    (fn: 'debug' | 'info' | 'warn' | 'error') =>
    (fields: LogFields, msg: string): void =>
      logger[fn](fields, msg);
  return {
    debug: wrap('debug'),
    info: wrap('info'),
    warn: wrap('warn'),
    error: wrap('error'),
    flush: () => syslog.close(),
  };
}
