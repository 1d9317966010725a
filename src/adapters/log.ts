// Logging: pino events to stderr (plain SPEC wording, or JSON lines), copied to syslog when configured.
import { spawn } from 'node:child_process';
import pino from 'pino';
import type { Log, LogFields } from '../core/types.js';

export interface LogOptions {
  level: string; // pino level name
  json: boolean; // JSON lines on stderr instead of plain text
  syslog: boolean;
  tag: string;
  color: boolean;
  /** where plain/JSON lines go (stderr by default; tests pass their own) */
  write?: (line: string) => void;
}

const SYSLOG_PRIORITY: Record<number, string> = { 10: 'debug', 20: 'debug', 30: 'info', 40: 'warning', 50: 'err', 60: 'crit' };
const PLAIN_PREFIX: Record<number, string> = { 40: 'warning: ', 50: 'error: ', 60: 'fatal: ' };

export interface LogHandle extends Log {
  /** Wait until queued syslog messages are handed over. */
  flush(): Promise<void>;
}

export function createLog(opts: LogOptions): LogHandle {
  const write = opts.write ?? ((l: string) => process.stderr.write(l));
  const pending = new Set<Promise<void>>();

  const toSyslog = (level: number, msg: string): void => {
    // `logger` (util-linux) speaks to /dev/log, which node cannot open (no unix datagram sockets).
    const p = new Promise<void>((resolve) => {
      const child = spawn('logger', ['-t', opts.tag, '-p', `daemon.${SYSLOG_PRIORITY[level] ?? 'info'}`, '--', msg], {
        stdio: 'ignore',
      });
      child.on('error', () => resolve());
      child.on('close', () => resolve());
    });
    pending.add(p);
    void p.then(() => pending.delete(p));
  };

  const stream = {
    write(line: string) {
      const o = JSON.parse(line) as { level: number; msg: string } & Record<string, unknown>;
      if (opts.json) write(line);
      else write(`${PLAIN_PREFIX[o.level] ?? ''}${o.msg}\n`);
      if (opts.syslog && o.level >= 30) toSyslog(o.level, o.msg);
    },
  };
  const logger = pino({ level: opts.level, base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, stream);

  const wrap =
    (fn: 'debug' | 'info' | 'warn' | 'error') =>
    (fields: LogFields, msg: string): void =>
      logger[fn](fields, msg);
  return {
    debug: wrap('debug'),
    info: wrap('info'),
    warn: wrap('warn'),
    error: wrap('error'),
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
