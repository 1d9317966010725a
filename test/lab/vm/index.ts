// IPVS lab VM: boots Debian's stock kernel under qemu (tcg) over this machine's root, read-only, and runs one script in it.
//
// The host kernel has no IPVS, so tests that need a real IPVS table (and keepalived, FRR, network
// namespaces next to it) run a whole scenario in ONE boot: each boot costs 10-30 s under tcg.
// The VM sees this machine's root through 9p, read-only, under a tmpfs overlay (build.sh, init.sh),
// so nothing here changes; results come back through a per-run host directory mounted rw.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { inCI, missing } from '../prereq.js';

const here = dirname(fileURLToPath(import.meta.url));
export const BUILD_SCRIPT = join(here, 'build.sh');

/** Programs the host needs to build and boot the VM. */
export const VM_COMMANDS = ['qemu-system-x86_64', 'busybox', 'cpio', 'gzip', 'depmod', 'modprobe', 'dpkg', 'apt-get', 'flock'];

/** Where inside the VM the run's exchange directory is mounted (rw, back to the host). */
export const VM_IO_DIR = '/run/vip-lab';
/** $VM_OUT inside the VM: files written there appear in VmResult.outDir on the host. */
export const VM_OUT_DIR = `${VM_IO_DIR}/out`;

const MARK_START = '@@vip-lab-start@@';
const MARK_EXIT = /@@vip-lab-exit:(\d+)@@/;

export interface VmImage {
  kver: string;
  packageName: string;
  vmlinuz: string;
  initrd: string;
  modtree: string;
}

export interface VmRunOptions {
  /** Kill qemu after this long (default 300 s; a boot is 5-10 s, node+tsx start 3-6 s under tcg). */
  timeoutMs?: number;
  /** Guest memory (default 2048); the overlay's tmpfs lives in it. */
  memMb?: number;
  /** Virtual CPUs (default 2: multi-threaded tcg uses both host cores). */
  smp?: number;
  /** Extra environment for the script. */
  env?: Record<string, string>;
  /** Working directory of the script inside the VM (default: process.cwd(), the checkout). */
  cwd?: string;
  /** Console chunks as they arrive (debugging); VIP_LAB_VERBOSE=1 copies them to stderr. */
  onOutput?: (chunk: string) => void;
}

export interface VmResult {
  /** Exit code of the script. */
  code: number;
  /** What the script wrote to stdout/stderr (console text between the start and exit markers). */
  output: string;
  /** The whole serial console, boot messages included. */
  console: string;
  /** Host path of $VM_OUT: files the script wrote there. Removed by cleanup(). */
  outDir: string;
  /** Milliseconds from spawning qemu to its exit. */
  durationMs: number;
  /** Milliseconds from spawning qemu to the start marker (boot + mounts). */
  bootMs: number | null;
  /** Remove the run's host directory (outDir included). */
  cleanup(): Promise<void>;
}

/** The VM did not report an exit code: timeout, kernel panic, init failure before the script. */
export class VmError extends Error {
  constructor(
    message: string,
    readonly console: string,
  ) {
    super(`${message}\n--- console tail ---\n${console.split('\n').slice(-40).join('\n')}`);
    this.name = 'VmError';
  }
}

// ---- image --------------------------------------------------------------------------------

let building: Promise<VmImage> | null = null;

/** Build (or reuse the cached) kernel and initramfs; once per process. Throws with build.sh's stderr. */
export function buildVm(): Promise<VmImage> {
  building ??= runBuild();
  return building;
}

async function runBuild(): Promise<VmImage> {
  const { code, stdout, stderr } = await capture('bash', [BUILD_SCRIPT]);
  if (code !== 0) {
    building = null; // let a later caller retry (e.g. after apt-get update)
    throw new Error(`${BUILD_SCRIPT} failed (exit ${code}): ${tail(stderr)}`);
  }
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const get = (k: string): string => {
    const v = kv.get(k);
    if (!v) throw new Error(`${BUILD_SCRIPT} printed no ${k}: ${tail(stdout)}`);
    return v;
  };
  return { kver: get('KVER'), packageName: get('PACKAGE'), vmlinuz: get('VMLINUZ'), initrd: get('INITRD'), modtree: get('MODTREE') };
}

/** What keeps the VM from running here: missing programs, not root, or the image build failing. */
export async function vmPrereqs(): Promise<string[]> {
  const gone = missing(VM_COMMANDS, { root: true });
  if (gone.length) return gone;
  const hidden = hiddenInVm(process.execPath);
  if (hidden) return [`node at ${process.execPath} (${hidden} is a fresh tmpfs inside the VM)`];
  try {
    await buildVm();
  } catch (e) {
    return [`VM image (${(e as Error).message})`];
  }
  return [];
}

/**
 * The lab skip/fail policy of prereq.ts for the VM: outside CI a missing prerequisite skips the
 * test with the reason; with CI=true it throws, so a broken harness build fails the run.
 */
export async function requireVm(t: TestContext): Promise<boolean> {
  const gone = await vmPrereqs();
  if (gone.length === 0) return true;
  const why = `lab prerequisite missing: ${gone.join(', ')}`;
  if (inCI) throw new Error(`${why}; CI=true, so this is a failure, not a skip`);
  console.log(`# SKIP ${t.name}: ${why}`);
  t.skip(why);
  return false;
}

// ---- run ----------------------------------------------------------------------------------

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/**
 * Boot the VM, run `script` with /bin/sh inside it (cwd = the checkout, $VM_OUT writable and shared
 * with the host) and power off. Resolves with the script's exit code and output; rejects with
 * VmError when the VM gives no exit code (timeout, panic, init failure).
 */
export async function runInVm(script: string, opts: VmRunOptions = {}): Promise<VmResult> {
  const image = await buildVm();
  const cwd = resolve(opts.cwd ?? process.cwd());
  // a checkout below /tmp (say) is hidden by the VM's fresh tmpfs: it is shared on its own (init.sh)
  const hidden = hiddenInVm(cwd);

  const work = await mkdtemp(join(tmpdir(), 'vip-lab-'));
  const cleanup = (): Promise<void> => rm(work, { recursive: true, force: true });
  try {
    const outDir = join(work, 'out');
    await mkdir(outDir);
    await writeFile(join(work, 'script.sh'), script.endsWith('\n') ? script : `${script}\n`);
    // node first on PATH wherever it lives, so the VM runs the same node as the host.
    const env: Record<string, string> = { LAB_CWD: cwd, VIP_LAB_NODE_DIR: dirname(process.execPath), ...opts.env };
    await writeFile(join(work, 'env.sh'), envFile(env));
    if (hidden) await writeFile(join(work, 'checkout.path'), cwd);

    const args = qemuArgs(image, work, opts, hidden ? cwd : null);
    const started = Date.now();
    const { console: text, code: qemuCode, timedOut, startedAt } = await runQemu(args, opts);
    const durationMs = Date.now() - started;
    const bootMs = startedAt === null ? null : startedAt - started;

    const exit = MARK_EXIT.exec(text);
    let code: number | null = exit ? Number(exit[1]) : null;
    if (code === null) {
      // The console can lose the last line when qemu exits; the rc file is the second witness.
      const rc = await readFile(join(work, 'rc'), 'utf8').catch(() => null);
      if (rc !== null && /^\d+\s*$/.test(rc)) code = Number(rc);
    }
    if (timedOut) throw new VmError(`VM timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`, text);
    if (code === null) throw new VmError(`VM exited (qemu status ${qemuCode}) without an exit marker`, text);
    if (code === 125 && text.includes('vip-lab init:')) throw new VmError('VM init failed before the script ran', text);

    const from = text.indexOf(MARK_START);
    const to = exit ? text.indexOf(exit[0]) : text.length;
    const output = from >= 0 ? text.slice(from + MARK_START.length + 1, to) : '';
    return { code, output, console: text, outDir, durationMs, bootMs, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

const DEFAULT_TIMEOUT_MS = 300_000;

function qemuArgs(image: VmImage, work: string, opts: VmRunOptions, checkout: string | null): string[] {
  return [
    '-accel', 'tcg',
    // "max" gives the guest SSE4.2/AVX etc., which node's V8 and crc32c-intel use.
    '-cpu', 'max',
    '-smp', String(opts.smp ?? 2),
    '-m', String(opts.memMb ?? 2048),
    '-nodefaults', '-no-user-config',
    '-display', 'none',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-nic', 'none',
    '-no-reboot',
    '-kernel', image.vmlinuz,
    '-initrd', image.initrd,
    '-append', 'console=ttyS0 quiet panic=-1',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${work},mount_tag=labio,security_model=none,multidevs=remap`,
    ...(checkout ? ['-virtfs', `local,path=${checkout},mount_tag=checkout,security_model=none,readonly=on,multidevs=remap`] : []),
    // Early entropy for node: without it getrandom() can block for seconds on a fresh tcg guest.
    '-device', 'virtio-rng-pci',
  ];
}

function runQemu(
  args: string[],
  opts: VmRunOptions,
): Promise<{ console: string; code: number | null; timedOut: boolean; startedAt: number | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const verbose = process.env.VIP_LAB_VERBOSE === '1';
    let text = '';
    let stderr = '';
    let startedAt: number | null = null;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      // The serial line turns \n into \r\n.
      const clean = chunk.replace(/\r/g, '');
      text += clean;
      if (startedAt === null && text.includes(MARK_START)) startedAt = Date.now();
      opts.onOutput?.(clean);
      if (verbose) process.stderr.write(clean);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new Error(`cannot start qemu-system-x86_64: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      if (stderr.trim()) text += `\n[qemu stderr] ${stderr.trim()}\n`;
      resolvePromise({ console: text, code, timedOut, startedAt });
    });
  });
}

// ---- helpers ------------------------------------------------------------------------------

/** init.sh mounts fresh tmpfs on these: host files below them are invisible inside the VM. */
const HIDDEN = ['/tmp', '/run', '/var/tmp', '/dev', '/proc', '/sys'];

function hiddenInVm(path: string): string | null {
  return HIDDEN.find((d) => path === d || path.startsWith(`${d}/`)) ?? null;
}

/** A sourced env file: every value single-quoted, so nothing in it is ever interpreted. */
function envFile(env: Record<string, string>): string {
  const lines = Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name: ${k}`);
    return `export ${k}='${v.replace(/'/g, `'\\''`)}'`;
  });
  lines.push('case ":$PATH:" in *":$VIP_LAB_NODE_DIR:"*) ;; *) PATH="$VIP_LAB_NODE_DIR:$PATH" ;; esac');
  return `${lines.join('\n')}\n`;
}

function capture(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (e) => resolvePromise({ code: null, stdout, stderr: `${stderr}${e.message}` }));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
