// Lab helper for the speaker factories: run one daemon in a namespace as a child we hold the pid of (pid file for the lab's cleanup), and kill exactly that pid.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface NsProcess {
  pid: number;
  /** resolves when it exited */
  exited: Promise<void>;
}

/** Start ARGV inside NS (`ip netns exec` execs it: the pid is the daemon's), output appended to LOG,
 *  its pid written to PIDFILE. Detached: a test's process group signals do not reach it. */
export async function startInNs(ns: string, argv: string[], opts: { env?: Record<string, string>; log: string; pidfile: string }): Promise<NsProcess> {
  const fd = openSync(opts.log, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { env: { ...process.env, ...opts.env }, stdio: ['ignore', fd, fd], detached: true });
    child.unref();
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    if (child.pid === undefined) throw new Error(`could not start ${argv[0]} in ${ns}`);
    await writeFile(opts.pidfile, `${child.pid}\n`);
    return { pid: child.pid, exited };
  } finally {
    closeSync(fd);
  }
}

/** SIGKILL PID (ours) and wait until it is gone. */
export async function killPid(p: NsProcess | null): Promise<void> {
  if (!p) return;
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  await Promise.race([p.exited, sleep(5000)]);
}

/** Poll CHECK until it resolves true (or throws WHAT after timeoutMs). */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what} after ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(100);
  }
}
