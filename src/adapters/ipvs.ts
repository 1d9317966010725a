// The IPVS adapter: reads the table from /proc/net/ip_vs or `ipvsadm -S -n`; the only place that touches either.
//
// The proc path is opened O_RDONLY|O_NONBLOCK and must be a regular file: readFile on a FIFO planted
// there blocks in open() until a writer comes, with the run lock held. /proc/net/ip_vs is a regular
// file whose stat size is 0, so it is read in chunks until EOF, never by its size.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { runProgram } from './run.js';
import { VipError } from '../core/errors.js';
import { assertReadable, parseIpvsadmSave, parseProcIpVs, type IpvsTable } from '../core/ipvs.js';

export interface IpvsReaderOptions {
  /** proc: read `path`; ipvsadm: run `ipvsadm -S -n` */
  source: 'proc' | 'ipvsadm';
  path?: string; // default /proc/net/ip_vs
  ipvsadm?: string; // path or name on PATH, default "ipvsadm"
  timeoutMs?: number; // default 5000
  /** CONFIG_HZ of the running kernel, for the persistence timeout in /proc (default 250) */
  hz?: number;
}

export interface IpvsReader {
  /** Read and parse the table once. Throws VIP_E_IPVS_UNREADABLE when it cannot be read or has a
   *  malformed line (assertReadable): the caller must fail static. */
  read(): Promise<IpvsTable>;
  /** Where the table comes from, for logs and `doctor`: "/proc/net/ip_vs" or "ipvsadm -S -n". */
  readonly source: string;
}

export const DEFAULT_PROC_PATH = '/proc/net/ip_vs';

/** Largest table read: 10,000 services x 8 real servers is about 6 MB. */
const MAX_PROC_BYTES = 256 << 20;
const FIRST_READ = 1 << 20;

class ReadTimeout extends Error {}

/** The whole of a regular file at PATH, read until EOF within TIMEOUTMS. Throws VipError for
 *  anything that is not a regular file (FIFO, device, directory), errno errors as they come. */
export async function readRegularFile(path: string, timeoutMs: number): Promise<string> {
  let fh: FileHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadTimeout()), timeoutMs);
  });
  // O_NONBLOCK: open() of a FIFO returns at once instead of waiting for a writer.
  const opening = open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    fh = await Promise.race([opening, deadline]);
    const st = await Promise.race([fh.stat(), deadline]);
    if (!st.isFile()) {
      const what = st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'a special file';
      throw new VipError('VIP_E_IPVS_UNREADABLE', `cannot read IPVS from ${path}: it is not a regular file (${what}): is watchdog.ipvs.path right?`, {
        path,
        reason: 'not-regular',
      });
    }
    // one buffer, doubled when full: a 5.4 MB table in a few reads (a read of /proc/net/ip_vs
    // returns as many whole lines as fit), not 84 of 64 KiB, each an await
    let buf = Buffer.allocUnsafe(FIRST_READ);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        if (total >= MAX_PROC_BYTES) {
          throw new VipError('VIP_E_IPVS_UNREADABLE', `cannot read IPVS from ${path}: larger than ${MAX_PROC_BYTES} bytes: is watchdog.ipvs.path right?`, {
            path,
            reason: 'size',
          });
        }
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const { bytesRead } = await Promise.race([fh.read(buf, total, buf.length - total, null), deadline]);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return buf.toString('utf8', 0, total);
  } finally {
    clearTimeout(timer);
    deadline.catch(() => {}); // settled or not, nobody waits on it any more
    if (fh) await fh.close().catch(() => {});
    else opening.then((h) => h.close(), () => {}).catch(() => {}); // an open that lost the race is closed when it lands
  }
}

export function createIpvsReader(opts: IpvsReaderOptions): IpvsReader {
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (opts.source === 'ipvsadm') {
    const bin = opts.ipvsadm ?? 'ipvsadm';
    // -n: numeric addresses and ports; names would need DNS and could not be compared.
    const argv = ['-S', '-n'];
    const command = [bin, ...argv].join(' ');
    return {
      source: command,
      async read() {
        const r = await runProgram(bin, argv, { timeoutMs, maxBuffer: 256 << 20, env: { LC_ALL: 'C' } });
        if (r.failed) {
          const stderr = tail(String(r.stderr ?? ''));
          const details = { command: [bin, ...argv], exitCode: r.exitCode ?? null, stderr };
          let reason: string;
          if (r.code === 'ENOENT') reason = `${bin} not found: install ipvsadm, or set watchdog.ipvs.source: proc`;
          else if (r.timedOut) reason = `no answer within ${timeoutMs} ms`;
          else if (/Protocol not available|Can't initialize ipvs/i.test(stderr)) {
            reason = `IPVS is not available in this kernel: is the ip_vs module loaded? (${stderr})`;
          } else if (/Permission denied|Operation not permitted/i.test(stderr)) reason = `permission denied: run as root (${stderr})`;
          else reason = `exit ${r.exitCode ?? r.signal ?? '?'}${stderr ? `: ${stderr}` : ''}`;
          throw new VipError('VIP_E_IPVS_UNREADABLE', `cannot read IPVS with ${command}: ${reason}`, details);
        }
        const table = parseIpvsadmSave(String(r.stdout));
        assertReadable(table, command);
        return table;
      },
    };
  }

  const path = opts.path ?? DEFAULT_PROC_PATH;
  return {
    source: path,
    async read() {
      let text: string;
      try {
        text = await readRegularFile(path, timeoutMs);
      } catch (e) {
        if (e instanceof VipError) throw e;
        const err = e as NodeJS.ErrnoException;
        let reason: string;
        if (e instanceof ReadTimeout) reason = `no answer within ${timeoutMs} ms`;
        else if (err.code === 'ENOENT') reason = `no ${path}: is the ip_vs module loaded? (modprobe ip_vs)`;
        else if (err.code === 'EACCES' || err.code === 'EPERM') reason = `permission denied: run as root`;
        else reason = err.message;
        throw new VipError('VIP_E_IPVS_UNREADABLE', `cannot read IPVS from ${path}: ${reason}`, {
          path,
          reason: e instanceof ReadTimeout ? 'timeout' : (err.code ?? err.name),
        });
      }
      // A misconfigured path must not read as "no services, withdraw everything".
      if (!text.startsWith('IP Virtual Server version')) {
        throw new VipError(
          'VIP_E_IPVS_UNREADABLE',
          `cannot read IPVS from ${path}: it does not start with "IP Virtual Server version" (is watchdog.ipvs.path right?)`,
          { path, reason: 'format' },
        );
      }
      // in the kernel's order: every reader counts per VIP (core/live.ts), none needs the order
      const table = parseProcIpVs(text, { hz: opts.hz, sort: false });
      assertReadable(table, path);
      return table;
    },
  };
}

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
