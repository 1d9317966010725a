// The BGP speaker through vtysh: the only place that runs vtysh (FRR or Quagga); it builds every argv and maps vtysh's failures to VipErrors.
//
// For FRR it is the fallback of adapters/vty.ts (bgpd's own vty socket, the default since
// 2026-12-01: no vtysh start per call); Quagga, and bgp.transport: vtysh, use it alone.
//
// Choices, measured on FRR 8.4 in a lab namespace (numbers in the test file's benchmark):
// - apply sends one `-c` per command in ONE vtysh process. `-c` stops at the first rejected command
//   and exits 1 with the daemon's message; `vtysh -f FILE` goes on after errors and, worse, exits 0
//   having silently applied nothing when bgpd is down. Both take ~150 ms for 1000 networks. Only a
//   batch whose argv would pass maxArgvBytes (Linux caps argv+environment at 2 MiB: about 20 000
//   changes) goes through a temp file and `vtysh -f`, after a bgpd probe for that reason.
// - lookup asks `show bgp <afi> unicast P json` once per prefix, all in one process (~200 ms for
//   1000). The whole-table `... json detail` is faster on a small table, but an LB that takes a full
//   table from its routers would print hundreds of MB for a handful of VIPs; per-prefix output is
//   bounded by what we ask.
// - readRunning runs a bgpd probe before `show running-config`: with bgpd down, vtysh prints the
//   running config of the other daemons without any `router bgp` and exits 0, which would read as
//   "no BGP configured". The probe fails first ("bgpd is not running", exit 1) and vtysh stops there.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram } from './run.js';
import { VipError, type ErrorCode } from '../core/errors.js';
import {
  buildApplyCommands,
  classifyVtyshFailure,
  cleanVtyshOutput,
  lookupCommand,
  parseLookupJson,
  parseLookupText,
  parseRunningConfig,
  splitProbeAndRunning,
  type Dialect,
} from '../core/frrconfig.js';
import { normalisePrefix } from '../core/prefix.js';
import { parseBgpSummaryJson, parseBgpSummaryText, type BgpNeighbor } from '../core/doctor.js';
import type { PrefixState, RunningBgp, Speaker, SpeakerChange } from '../core/types.js';

export interface SpeakerOptions {
  dialect: Dialect;
  /** vtysh path or name on PATH */
  vtysh: string;
  /** FRR pathspace (`vtysh -N`); Quagga has none */
  pathspace?: string;
  /** per vtysh call */
  timeoutMs: number;
  /** argv size above which apply uses a temp file with `vtysh -f` and lookup splits into several
   *  calls (default 1 MiB, half of Linux's ARG_MAX, which the environment shares) */
  maxArgvBytes?: number;
}

const DEFAULT_MAX_ARGV = 1 << 20;

/** Probe commands that need bgpd and fail (or, Quagga, print nothing) without it. */
const PROBE: Record<Dialect, string> = { frr: 'show bgp vrfs json', quagga: 'show ip bgp summary' };

interface RunResult {
  stdout: string;
  output: string; // stdout and stderr interleaved, for messages
}

type Purpose = 'read' | 'apply';

/** The speaker plus what only `doctor` asks. */
export interface DiagnosableSpeaker extends Speaker {
  /** The BGP neighbors of the default instance and their session state (FRR: `show bgp summary
   *  json`, every address family; Quagga: `show ip bgp summary`, IPv4 only). */
  neighbors(): Promise<BgpNeighbor[]>;
}

export function createSpeaker(opts: SpeakerOptions): DiagnosableSpeaker {
  const { dialect, vtysh: bin, timeoutMs } = opts;
  const pathspace = opts.pathspace || undefined;
  const maxArgv = opts.maxArgvBytes ?? DEFAULT_MAX_ARGV;
  if (pathspace !== undefined) {
    if (dialect === 'quagga') {
      throw new VipError('VIP_E_CONFIG', `bgp.pathspace is "${pathspace}", but Quagga's vtysh has no -N option: clear bgp.pathspace or use bgp.speaker: frr`, {
        path: 'bgp.pathspace',
      });
    }
    // it becomes part of socket and config paths (/var/run/frr/<pathspace>/)
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(pathspace)) {
      throw new VipError('VIP_E_CONFIG', `bgp.pathspace "${pathspace}" is not a plain name (letters, digits, "_", "-", "."): fix the config`, {
        path: 'bgp.pathspace',
      });
    }
  }
  const base = pathspace ? ['-N', pathspace] : [];
  const where = pathspace ? ` in pathspace ${pathspace}` : '';
  // FRR ships frr@.service for pathspace instances (frrinit.sh start <pathspace>)
  const service = dialect === 'quagga' ? 'quagga' : pathspace ? `frr@${pathspace}` : 'frr';
  const startHint =
    dialect === 'quagga' ? 'start it with systemctl start quagga' : pathspace ? `start it with systemctl start frr@${pathspace}` : 'start it with systemctl start frr';
  const daemonsFile = dialect === 'quagga' ? '/etc/quagga/daemons' : `/etc/frr/${pathspace ? `${pathspace}/` : ''}daemons`;

  /** Turn a failed or suspicious run into the VipError the contract promises. */
  const failure = (purpose: Purpose, argv: string[], r: { exitCode?: number; output: string }, action: string): VipError => {
    const output = cleanVtyshOutput(r.output);
    const details = { command: shortArgv(bin, argv), exitCode: r.exitCode ?? null, stderr: tail(output), pathspace: pathspace ?? null };
    const f = classifyVtyshFailure(output);
    let code: ErrorCode;
    let message: string;
    switch (f.kind) {
      case 'locked':
        code = 'VIP_E_SPEAKER_LOCKED';
        message = `the ${dialect === 'frr' ? 'FRR' : 'Quagga'} configuration${where} is locked by another session ("${f.message}"): wait for it to leave configure mode, then retry`;
        break;
      case 'daemon-down':
        code = 'VIP_E_SPEAKER_DOWN';
        message = `${f.daemon} is not running${where}: ${startHint}, and check that ${f.daemon}=yes in ${daemonsFile}`;
        break;
      case 'no-daemons':
        code = 'VIP_E_SPEAKER_DOWN';
        message = `vtysh could not connect to any ${dialect === 'frr' ? 'FRR' : 'Quagga'} daemon${where} ("${f.message}"): ${startHint}${pathspace ? `, or fix bgp.pathspace (sockets in /var/run/frr/${pathspace}/)` : ''}`;
        break;
      case 'permission':
        code = 'VIP_E_SPEAKER_DOWN';
        message = `vtysh may not talk to the daemons${where} ("${f.message}"): run vip-mgmt as root or as a member of the frrvty group`;
        break;
      default:
        if (purpose === 'apply') {
          code = 'VIP_E_APPLY';
          message = argv.includes('-f')
            ? `vtysh rejected part of the change${where}: ${f.message}\n(vtysh -f goes on after a rejected line: the others were applied; vip-mgmt status shows what is configured)`
            : `vtysh rejected the change${where}: ${f.message}\n(vtysh stops at the first rejected command: the ones before it were applied; vip-mgmt status shows what is configured)`;
        } else {
          code = 'VIP_E_SPEAKER_DOWN';
          message = `vtysh could not ${action}${where} (exit ${r.exitCode ?? '?'}): ${f.message}`;
        }
    }
    return new VipError(code, message, details);
  };

  const run = async (purpose: Purpose, argv: string[], action: string): Promise<RunResult> => {
    const full = [...base, ...argv];
    const r = await runProgram(bin, full, { timeoutMs, maxBuffer: 512 * 1024 * 1024, env: { LC_ALL: 'C' } });
    const output = r.all;
    const details = { command: shortArgv(bin, full), exitCode: r.exitCode ?? null, stderr: tail(cleanVtyshOutput(output)), pathspace: pathspace ?? null };
    if (r.code === 'ENOENT' || r.code === 'EACCES') {
      const why = r.code === 'ENOENT' ? 'not found' : 'not executable';
      throw new VipError('VIP_E_SPEAKER_MISSING', `vtysh ${why} ("${bin}"): install frr (apt-get install frr) or set bgp.vtysh to its full path`, details);
    }
    if (r.timedOut) {
      throw new VipError(
        'VIP_E_SPEAKER_DOWN',
        `vtysh timed out after ${timeoutMs} ms${where} trying to ${action}: bgpd is hung or overloaded; check systemctl status ${service} and bgpd's log` +
          (purpose === 'apply' ? ' (part of the change may have been applied: vip-mgmt status shows what is configured)' : ''),
        details,
      );
    }
    if (r.failed) {
      if (r.exitCode === undefined) {
        // killed by a signal, or spawn failed for another reason
        throw new VipError('VIP_E_SPEAKER_DOWN', `vtysh failed${where} trying to ${action}: ${r.shortMessage ?? r.signal ?? 'unknown error'}`, details);
      }
      throw failure(purpose, full, { exitCode: r.exitCode, output }, action);
    }
    // vtysh -c carries on after a command that only warned (CMD_WARNING) and exits 0; FRR and
    // Quagga start every error and warning line with "%", and configuration commands print nothing
    // when they succeed.
    if (purpose === 'apply' && /^%/m.test(cleanVtyshOutput(output))) throw failure(purpose, full, { exitCode: 0, output }, action);
    return { stdout: r.stdout, output };
  };

  const argvBytes = (cmds: string[]): number => cmds.reduce((n, c) => n + Buffer.byteLength(c) + 4, 0);

  // Quagga's vtysh silently skips the commands of a daemon it is not connected to, exit 0.
  const quaggaBgpdDown = (argv: string[]) =>
    new VipError('VIP_E_SPEAKER_DOWN', `bgpd is not running: vtysh printed nothing for "${PROBE.quagga}"; ${startHint}`, { command: [bin, ...argv] });

  const probeBgpd = async (action: string): Promise<void> => {
    const argv = ['-c', PROBE[dialect]];
    const { stdout } = await run('read', argv, action);
    if (dialect === 'quagga' && stdout.trim() === '') throw quaggaBgpdDown(argv);
  };

  const noRunning = (argv: string[], stdout: string) =>
    new VipError('VIP_E_SPEAKER_DOWN', `vtysh printed no running configuration${where}; is the speaker running? (systemctl status ${service})`, {
      command: shortArgv(bin, [...base, ...argv]),
      stdout: tail(stdout),
    });

  const readRunning = async (): Promise<RunningBgp> => {
    const action = 'read the running configuration';
    const argv = ['-c', PROBE[dialect], '-c', 'show running-config'];
    const { stdout } = await run('read', argv, action);
    const { probe, running } = splitProbeAndRunning(stdout);
    if (dialect === 'quagga' && probe.trim() === '') throw quaggaBgpdDown(argv);
    if (running === '') throw noRunning(argv, stdout);
    return parseRunningConfig(running);
  };

  const lookup = async (prefixes: string[]): Promise<Map<string, PrefixState>> => {
    const wanted = [...new Set(prefixes.map((p) => {
      const n = normalisePrefix(p);
      if (!n) throw new TypeError(`not a prefix: ${p}`);
      return n;
    }))];
    const out = new Map<string, PrefixState>();
    // Reads need no atomicity, so a list too long for one command line goes in several calls.
    let done = 0;
    for (const chunk of chunksByBytes(wanted.map((p) => lookupCommand(dialect, p)), maxArgv)) {
      const asked = wanted.slice(done, done + chunk.length);
      done += chunk.length;
      const { stdout } = await run('read', chunk.flatMap((c) => ['-c', c]), `look up ${asked.length} prefixes in the BGP table`);
      let parsed: Map<string, PrefixState>;
      try {
        parsed = dialect === 'frr' ? parseLookupJson(stdout, asked) : parseLookupText(stdout, asked);
      } catch (e) {
        throw new VipError('VIP_E_SPEAKER_DOWN', `could not read vtysh's BGP table answer${where}: ${(e as Error).message}`, { stdout: tail(stdout) });
      }
      for (const [k, v] of parsed) out.set(k, v);
    }
    return out;
  };

  return {
    readRunning,

    async snapshot(prefixes: string[]): Promise<{ running: RunningBgp; table: Map<string, PrefixState> }> {
      const wanted = [...new Set(prefixes.map((p) => normalisePrefix(p) ?? p))];
      const lookups = wanted.map((p) => lookupCommand(dialect, p));
      // FRR: probe, then every lookup (JSON), then the running config, whose "Building
      // configuration..." line separates the two. Quagga prints text lookups: two calls there.
      if (dialect !== 'frr' || argvBytes(lookups) + 64 > maxArgv) return { running: await readRunning(), table: await lookup(wanted) };
      const argv = ['-c', PROBE.frr, ...lookups.flatMap((c) => ['-c', c]), '-c', 'show running-config'];
      const { stdout } = await run('read', argv, `read the running configuration and look up ${wanted.length} prefixes`);
      const { probe, running } = splitProbeAndRunning(stdout);
      if (running === '') throw noRunning(argv, stdout);
      let table: Map<string, PrefixState>;
      try {
        table = parseLookupJson(probe, wanted, { skipLeading: 1 });
      } catch (e) {
        throw new VipError('VIP_E_SPEAKER_DOWN', `could not read vtysh's BGP table answer${where}: ${(e as Error).message}`, { stdout: tail(stdout) });
      }
      return { running: parseRunningConfig(running), table };
    },

    async apply(asn: number, changes: SpeakerChange[]): Promise<void> {
      if (changes.length === 0) return;
      const cmds = buildApplyCommands(dialect, asn, changes);
      const action = `apply ${changes.length} change${changes.length === 1 ? '' : 's'}`;
      if (argvBytes(cmds) <= maxArgv) {
        await run('apply', cmds.flatMap((c) => ['-c', c]), action);
        return;
      }
      if (dialect === 'quagga') {
        throw new VipError('VIP_E_APPLY', `${changes.length} changes do not fit on one vtysh command line and Quagga's vtysh cannot read them from a file; split the run`, {
          changes: changes.length,
        });
      }
      // -f reads a configuration file: no "configure terminal" / "end" around it.
      await probeBgpd(action);
      const dir = await mkdtemp(join(tmpdir(), 'vip-mgmt-vtysh-'));
      try {
        const file = join(dir, 'changes.conf');
        await writeFile(file, `${cmds.filter((c) => c !== 'configure terminal' && c !== 'end').join('\n')}\n`, { mode: 0o600 });
        await run('apply', ['-f', file], action);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },

    lookup,

    async neighbors(): Promise<BgpNeighbor[]> {
      const argv = ['-c', dialect === 'frr' ? 'show bgp summary json' : 'show ip bgp summary'];
      const { stdout } = await run('read', argv, 'read the BGP neighbors');
      if (dialect === 'quagga') {
        if (stdout.trim() === '') throw quaggaBgpdDown(argv);
        return parseBgpSummaryText(stdout);
      }
      try {
        return parseBgpSummaryJson(stdout);
      } catch (e) {
        throw new VipError('VIP_E_SPEAKER_DOWN', `could not read vtysh's BGP summary${where}: ${(e as Error).message}`, { stdout: tail(stdout) });
      }
    },
  };
}

/** Check a configuration file with FRR's own parser (`vtysh -C -f FILE`); no daemon needed. */
export async function checkConfigFile(opts: { vtysh: string; file: string; timeoutMs?: number }): Promise<{ ok: boolean; output: string }> {
  const argv = ['-C', '-f', opts.file];
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const r = await runProgram(opts.vtysh, argv, { timeoutMs, env: { LC_ALL: 'C' } });
  const output = cleanVtyshOutput(r.all);
  if (r.code === 'ENOENT' || r.code === 'EACCES') {
    throw new VipError('VIP_E_SPEAKER_MISSING', `vtysh ${r.code === 'ENOENT' ? 'not found' : 'not executable'} ("${opts.vtysh}"): install frr (apt-get install frr) or set bgp.vtysh to its full path`, {
      command: [opts.vtysh, ...argv],
    });
  }
  if (r.timedOut) return { ok: false, output: `vtysh -C did not finish within ${timeoutMs} ms` };
  return { ok: r.exitCode === 0, output };
}

function chunksByBytes(cmds: string[], max: number): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const c of cmds) {
    const n = Buffer.byteLength(c) + 4;
    if (cur.length > 0 && size + n > max) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(c);
    size += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** The command for error details: a 1000-change argv is kept readable. */
function shortArgv(bin: string, argv: string[], keep = 16): string[] {
  return argv.length <= keep ? [bin, ...argv] : [bin, ...argv.slice(0, keep), `... (${argv.length - keep} more arguments)`];
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
