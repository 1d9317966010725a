// Run one external program (argv array, no shell) with a timeout and collect its output: what vtysh.ts and ipvs.ts used execa for.
//
// node:child_process instead of execa: execa 9 and its dependencies are ~245 KB of bundle that
// cost ~60 ms of module loading on every start that ran a program, for the few options used here.
import { spawn } from 'node:child_process';

export interface RunOptions {
  timeoutMs: number;
  /** added to this process's environment */
  env?: Record<string, string>;
  /** most bytes kept of stdout (and of the interleaved output); past it the child is killed */
  maxBuffer?: number;
}

export interface RunResult {
  /** spawn error code (ENOENT, EACCES...) when the program could not be started */
  code?: string;
  exitCode?: number;
  signal?: string;
  timedOut: boolean;
  /** the child wrote more than maxBuffer */
  overflow: boolean;
  /** not started, timed out, killed, overflowed or a non-zero exit */
  failed: boolean;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in the order they arrived */
  all: string;
  /** why it failed, in a few words */
  shortMessage?: string;
}

export function runProgram(bin: string, argv: string[], opts: RunOptions): Promise<RunResult> {
  const max = opts.maxBuffer ?? 64 << 20;
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ? { ...process.env, ...opts.env } : process.env });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      resolve({ code, timedOut: false, overflow: false, failed: true, stdout: '', stderr: '', all: '', shortMessage: (e as Error).message });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const all: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let overflow = false;
    let spawnError: NodeJS.ErrnoException | null = null;
    const collect = (into: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size > max) {
        if (!overflow) child.kill('SIGKILL');
        overflow = true;
        return;
      }
      into.push(d);
      all.push(d);
    };
    child.stdout!.on('data', collect(out));
    child.stderr!.on('data', collect(err));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => (spawnError = e));
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const text = (b: Buffer[]) => Buffer.concat(b).toString('utf8');
      const base = { stdout: text(out), stderr: text(err), all: text(all), timedOut, overflow };
      if (spawnError) {
        resolve({ ...base, code: spawnError.code, failed: true, shortMessage: spawnError.message });
        return;
      }
      const failed = timedOut || overflow || exitCode !== 0;
      const shortMessage = timedOut
        ? `timed out after ${opts.timeoutMs} ms`
        : overflow
          ? `printed more than ${max} bytes`
          : signal
            ? `killed by ${signal}`
            : exitCode !== 0
              ? `exit ${exitCode}`
              : undefined;
      resolve({ ...base, exitCode: exitCode ?? undefined, signal: signal ?? undefined, failed, shortMessage });
    });
  });
}
