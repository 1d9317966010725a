// The IPVS adapter: reads the table from /proc/net/ip_vs or `ipvsadm -S -n`; the only place that touches either.
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { VipError } from '../core/errors.js';
import { parseIpvsadmSave, parseProcIpVs, type IpvsTable } from '../core/ipvs.js';

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
  /** Read and parse the table once. Throws VIP_E_IPVS_UNREADABLE: the caller must fail static. */
  read(): Promise<IpvsTable>;
  /** Where the table comes from, for logs and `doctor`: "/proc/net/ip_vs" or "ipvsadm -S -n". */
  readonly source: string;
}

export const DEFAULT_PROC_PATH = '/proc/net/ip_vs';

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
        const r = await execa(bin, argv, { timeout: timeoutMs, reject: false, stdin: 'ignore', env: { LC_ALL: 'C' } });
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
        return parseIpvsadmSave(String(r.stdout));
      },
    };
  }

  const path = opts.path ?? DEFAULT_PROC_PATH;
  return {
    source: path,
    async read() {
      let text: string;
      try {
        text = await readFile(path, { encoding: 'utf8', signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        let reason: string;
        if (err.code === 'ENOENT') reason = `no ${path}: is the ip_vs module loaded? (modprobe ip_vs)`;
        else if (err.code === 'EACCES' || err.code === 'EPERM') reason = `permission denied: run as root`;
        else if (err.name === 'AbortError' || err.name === 'TimeoutError') reason = `no answer within ${timeoutMs} ms`;
        else reason = err.message;
        throw new VipError('VIP_E_IPVS_UNREADABLE', `cannot read IPVS from ${path}: ${reason}`, { path, reason: err.code ?? err.name });
      }
      // A misconfigured path must not read as "no services, withdraw everything".
      if (!text.startsWith('IP Virtual Server version')) {
        throw new VipError(
          'VIP_E_IPVS_UNREADABLE',
          `cannot read IPVS from ${path}: it does not start with "IP Virtual Server version" (is watchdog.ipvs.path right?)`,
          { path, reason: 'format' },
        );
      }
      return parseProcIpVs(text, { hz: opts.hz });
    },
  };
}

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
