// The watchdog daemon's pid file record, and the one rule that says whether the process it names is still that daemon.
//
// Why more than "is the pid alive": `watchdog --now` sends SIGUSR1, whose default action TERMINATES
// a process. A pid file left by a killed daemon can name a pid the kernel has since given to another
// program, and signalling that would kill it. So a pid counts only when the process behind it started
// at the moment the record says (the start time in clock ticks from /proc/PID/stat, which a reused pid
// never shares with the old process) AND its command line is a vip-mgmt watchdog.

export interface PidRecord {
  pid: number;
  /** start time of the process, field 22 of /proc/PID/stat (clock ticks since boot) */
  start: number;
  /** when it started, for people (ISO 8601) */
  since: string;
}

/** What the system says about a pid now (read by the adapter from /proc). */
export interface ProcView {
  alive: boolean;
  /** null: /proc/PID/stat unreadable */
  start: number | null;
  /** null: /proc/PID/cmdline unreadable */
  cmdline: string[] | null;
}

export type DaemonCheck = { live: true } | { live: false; why: string };

export function formatPidRecord(r: PidRecord): string {
  return `${JSON.stringify({ pid: r.pid, start: r.start, since: r.since })}\n`;
}

/** The record in a pid file's text; null when it is not one we wrote. */
export function parsePidRecord(text: string): PidRecord | null {
  let o: Partial<PidRecord>;
  try {
    o = JSON.parse(text) as Partial<PidRecord>;
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  // pid 0 and -1 would make kill() reach a process group or every process
  if (!Number.isSafeInteger(o.pid) || (o.pid as number) < 2) return null;
  if (!Number.isSafeInteger(o.start) || (o.start as number) < 0) return null;
  return { pid: o.pid as number, start: o.start as number, since: typeof o.since === 'string' ? o.since : '?' };
}

/** Field 22 (starttime) of /proc/PID/stat. The command name (field 2) is in parentheses and may hold
 *  spaces and parentheses itself, so the fields are counted from the LAST ')'. */
export function startTimeOf(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 1).trim().split(/\s+/); // fields[0] is field 3 (state)
  const v = Number(fields[22 - 3]);
  return Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/** A vip-mgmt watchdog's command line: `node /usr/bin/vip-mgmt watchdog --every 2s ...`, or the
 *  bundle `node vip-mgmt.mjs watchdog ...` (a script whose file name holds "vip-mgmt"). */
export function isWatchdogCmdline(argv: string[]): boolean {
  const script = argv.findIndex((a) => (a.split('/').pop() ?? '').includes('vip-mgmt'));
  return script >= 0 && argv.slice(script + 1).includes('watchdog');
}

/** Is the process the record names the daemon that wrote it? Each "no" says why, for the log. */
export function checkDaemon(r: PidRecord, p: ProcView): DaemonCheck {
  if (!p.alive) return { live: false, why: `pid ${r.pid} is not running (the daemon that wrote it was killed)` };
  if (p.start === null || p.cmdline === null) return { live: false, why: `pid ${r.pid} cannot be checked in /proc, so it is not trusted` };
  if (p.start !== r.start) return { live: false, why: `pid ${r.pid} is another process now (the pid was reused: it started at tick ${p.start}, the daemon at ${r.start})` };
  if (!isWatchdogCmdline(p.cmdline)) return { live: false, why: `pid ${r.pid} is not a vip-mgmt watchdog (its command line: ${JSON.stringify(p.cmdline.join(' ').slice(0, 200))})` };
  return { live: true };
}
