// The FRR speaker over bgpd's own vty socket (/var/run/frr[/<pathspace>]/bgpd.vty), with vtysh (adapters/vtysh.ts) as the fallback; the only place that opens that socket.
//
// Why, measured on FRR 8.4 in the lab namespaces (bench V and B, BENCHMARKS.md 2026-12-01; 2 shared
// cores, another job's qemu VM running throughout):
// - The speaker work of one `-d` of 5 VIPs (read the running config, apply 5 withdraws in one
//   batch, read back running config + 5 lookups): vtysh per call 107 ms median (three vtysh
//   processes: exec, reading vtysh.conf, connecting to EVERY daemon of the pathspace, each time);
//   one long-lived vtysh session per run 48 ms; bgpd's vty socket 3 ms (connect + `enable` ~1 ms,
//   round trips ~0.05 ms). The socket wins by 35x; the session by 2.2x only.
// - The session candidate (commands on vtysh's stdin, an unknown-command marker after each to find
//   where its output ends) still pays one vtysh start per run, and vtysh on stdin reports a
//   rejected command only as text, no status: "stop at the first rejected command" needs a marker
//   round trip per command anyway. The socket gives a status byte per command (lib/command.h CMD_*).
// - apply sends the block commands (configure terminal, router bgp N, address-family...) one at a
//   time and stops at one that is refused (another ASN, a locked configuration) before any network
//   line; each run of `network`/`no network` lines goes at once, and every reply's status byte and
//   output is checked: a status that is not 0, or a "%" line, makes the whole apply VIP_E_APPLY,
//   naming every rejected line. 1000 network lines one round trip at a time took 310 ms on the
//   loaded lab (80-170 ms quiet) against 20-50 ms at once, most of a 1000-VIP `-a`. Unlike vtysh -c,
//   the lines after a rejected one are applied too (as with vtysh -f): a drain whose one stale
//   `no network` fails still withdraws every other VIP, and the error says so.
//   Reads (lookups, running config) are pipelined too: they need no atomicity.
// - The socket proves bgpd itself is up, so readRunning needs no probe: vtysh printed the other
//   daemons' config and exit 0 with bgpd down; a connect to a dead bgpd's socket fails instead.
// - Fallback to vtysh, per call, when the socket cannot be connected: ENOENT (no such pathspace, or
//   bgpd not running: FRR removes the socket), ECONNREFUSED (a stale socket), EACCES/EPERM (not
//   root and not in frrvty), or an `enable` the daemon refuses (an FRR whose vty differs). vtysh then
//   reports in its own words, so a dead bgpd is still "bgpd is not running", exit 6, as before.
//   Once connected, a failure is reported, never retried through vtysh: a half-sent apply must not
//   be sent twice. bgp.transport: vtysh turns the socket off; Quagga always uses vtysh.
// - bgpd's own `show running-config` holds its part only (router bgp, route-maps, prefix-lists,
//   not zebra's interfaces): everything vip-mgmt reads from it. `render --check` compares exactly
//   those parts.
import { join } from 'node:path';
import { VipError, type ErrorCode } from '../core/errors.js';
import { buildApplyCommands, classifyVtyshFailure, lookupCommand, lookupStates, parseRunningConfig } from '../core/frrconfig.js';
import { normalisePrefix } from '../core/prefix.js';
import { parseBgpSummaryJson, type BgpNeighbor } from '../core/doctor.js';
import { statusText, type VtyReply } from '../core/vtyframe.js';
import type { PrefixState, RunningBgp, SpeakerChange } from '../core/types.js';
import { VtyConnError, VtyConnection } from './vtyconn.js';
import type { DiagnosableSpeaker } from './vtysh.js';

/** FRR's vty socket directory as Debian builds it (--localstatedir=/var/run/frr); -N adds /<pathspace>. */
export const FRR_VTY_DIR = '/var/run/frr';

/** connect errors after which vtysh is asked instead */
const FALLBACK_ERRNO = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTDIR', 'ENOTSOCK', 'EPROTOTYPE']);

export interface VtySpeakerOptions {
  pathspace?: string;
  /** per speaker call, as bgp.timeout is per vtysh call */
  timeoutMs: number;
  /** the vtysh speaker, loaded only when needed */
  fallback: () => Promise<DiagnosableSpeaker>;
  /** default FRR_VTY_DIR; tests point it elsewhere */
  vtyDir?: string;
}

/** The transport a speaker used last, for doctor and tests: 'vty', or 'vtysh (why)'. */
export interface TransportInfo {
  transport(): string;
}

export function createVtySpeaker(opts: VtySpeakerOptions): DiagnosableSpeaker & TransportInfo {
  const pathspace = opts.pathspace || undefined;
  const path = join(opts.vtyDir ?? FRR_VTY_DIR, ...(pathspace ? [pathspace] : []), 'bgpd.vty');
  const where = pathspace ? ` in pathspace ${pathspace}` : '';
  const service = pathspace ? `frr@${pathspace}` : 'frr';
  const { timeoutMs } = opts;
  let conn: VtyConnection | null = null;
  let opening: Promise<VtyConnection | string> | null = null;
  /** why the socket is not used (set once an `enable` was refused: that does not get better) */
  let refused: string | null = null;
  let used = 'vty';
  let vtysh: Promise<DiagnosableSpeaker> | null = null;

  const details = (cmds: string[], extra: Record<string, unknown> = {}) => ({
    socket: path,
    command: cmds.length <= 16 ? cmds : [...cmds.slice(0, 16), `... (${cmds.length - 16} more commands)`],
    pathspace: pathspace ?? null,
    ...extra,
  });

  /** A connection, or the reason to use vtysh instead. */
  const connect = async (): Promise<VtyConnection | string> => {
    if (refused) return refused;
    if (conn?.usable) {
      used = 'vty';
      return conn;
    }
    conn = null;
    opening ??= (async () => {
      try {
        const c = await VtyConnection.open(path, timeoutMs);
        const [r] = await c.send(['enable'], timeoutMs);
        if (r!.status !== 0) {
          c.close();
          refused = `bgpd refused "enable" on ${path}: ${statusText(r!.status)}`;
          return refused;
        }
        conn = c;
        used = 'vty';
        return c;
      } catch (e) {
        if (e instanceof VtyConnError && e.stage === 'connect' && e.errno && FALLBACK_ERRNO.has(e.errno)) return `${path}: ${e.errno}`;
        throw connFailure(e, 'connect to bgpd', ['enable'], false);
      } finally {
        opening = null;
      }
    })();
    return opening;
  };

  const fallback = async (why: string): Promise<DiagnosableSpeaker> => {
    used = `vtysh (${why})`;
    vtysh ??= opts.fallback();
    return vtysh;
  };

  /** A failure of an open connection (or of its connect) as the contract's VipError. */
  const connFailure = (e: unknown, action: string, cmds: string[], applying: boolean): VipError => {
    if (e instanceof VipError) return e;
    const partly = applying ? ' (part of the change may have been applied: vip-mgmt status shows what is configured)' : '';
    if (e instanceof VtyConnError && e.stage === 'timeout') {
      return new VipError(
        'VIP_E_SPEAKER_DOWN',
        `bgpd did not answer within ${timeoutMs} ms${where} trying to ${action}: bgpd is hung or overloaded; check systemctl status ${service} and bgpd's log${partly}`,
        details(cmds, { error: e.message }),
      );
    }
    const closed = e instanceof VtyConnError && e.stage === 'closed';
    const why = closed ? 'bgpd closed its vty connection (did it stop?)' : (e as Error)?.message ?? String(e);
    return new VipError('VIP_E_SPEAKER_DOWN', `${why}${where} while trying to ${action}: check systemctl status ${service}${partly}`, details(cmds, { error: (e as Error)?.message ?? String(e), closed }));
  };

  /** Run CMDS pipelined (reads); a command that did not succeed is VIP_E_SPEAKER_DOWN. */
  const read = async (c: VtyConnection, cmds: string[], action: string): Promise<VtyReply[]> => {
    let replies: VtyReply[];
    try {
      replies = await c.send(cmds, timeoutMs);
    } catch (e) {
      throw connFailure(e, action, cmds, false);
    }
    const bad = replies.findIndex((r) => r.status !== 0);
    if (bad >= 0) {
      const r = replies[bad]!;
      throw new VipError('VIP_E_SPEAKER_DOWN', `bgpd could not ${action}${where}: "${cmds[bad]}" answered ${statusText(r.status)}: ${r.text.trim() || '(no output)'}`, details([cmds[bad]!], { status: r.status, output: tail(r.text) }));
    }
    return replies;
  };

  /**
   * A read over the socket (or through vtysh when it cannot be used). A kept connection (a daemon's
   * earlier cycle) that turns out closed, bgpd having restarted meanwhile, is replaced once.
   */
  const reading = async <T>(cmds: string[], action: string, viaVtysh: (v: DiagnosableSpeaker) => Promise<T>, use: (replies: VtyReply[]) => T): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const reused = conn?.usable === true;
      const c = await connect();
      if (typeof c === 'string') return viaVtysh(await fallback(c));
      try {
        return use(await read(c, cmds, action));
      } catch (e) {
        if (attempt === 0 && reused && e instanceof VipError && e.details.closed === true) continue;
        throw e;
      }
    }
  };

  const runningOf = (text: string): RunningBgp => parseRunningConfig(text);

  const tableOf = (replies: VtyReply[], asked: string[]): Map<string, PrefixState> => {
    try {
      return lookupStates(
        replies.map((r) => JSON.parse(r.text)),
        asked,
      );
    } catch (e) {
      throw new VipError('VIP_E_SPEAKER_DOWN', `could not read bgpd's BGP table answer${where}: ${(e as Error).message}`, { output: tail(replies.map((r) => r.text).join('\n')) });
    }
  };

  const normalised = (prefixes: string[]): string[] => [
    ...new Set(
      prefixes.map((p) => {
        const n = normalisePrefix(p);
        if (!n) throw new TypeError(`not a prefix: ${p}`);
        return n;
      }),
    ),
  ];

  const readRunning = (): Promise<RunningBgp> =>
    reading(['show running-config'], 'read the running configuration', (v) => v.readRunning(), ([r]) => runningOf(r!.text));

  const lookup = async (prefixes: string[]): Promise<Map<string, PrefixState>> => {
    const wanted = normalised(prefixes);
    return reading(
      wanted.map((p) => lookupCommand('frr', p)),
      `look up ${wanted.length} prefixes in the BGP table`,
      (v) => v.lookup(wanted),
      (replies) => tableOf(replies, wanted),
    );
  };

  return {
    readRunning,
    lookup,

    async snapshot(prefixes: string[]) {
      const wanted = normalised(prefixes);
      return reading(
        [...wanted.map((p) => lookupCommand('frr', p)), 'show running-config'],
        `read the running configuration and look up ${wanted.length} prefixes`,
        async (v) => (v.snapshot ? v.snapshot(wanted) : { running: await v.readRunning(), table: await v.lookup(wanted) }),
        (replies) => ({ running: runningOf(replies.at(-1)!.text), table: tableOf(replies.slice(0, -1), wanted) }),
      );
    },

    async apply(asn: number, changes: SpeakerChange[]): Promise<void> {
      if (changes.length === 0) return;
      const cmds = buildApplyCommands('frr', asn, changes);
      const reused = conn?.usable === true;
      let c = await connect();
      if (typeof c === 'string') return (await fallback(c)).apply(asn, changes);
      if (reused) {
        // a kept connection (a daemon's earlier cycle) may have been closed by a bgpd restart: find
        // out with a command that changes nothing, before any of the batch is sent
        try {
          await c.send(['show bgp vrfs json'], timeoutMs);
        } catch (e) {
          if (!(e instanceof VtyConnError && e.stage === 'closed')) throw connFailure(e, 'check the connection to bgpd', ['show bgp vrfs json'], false);
          c = await connect();
          if (typeof c === 'string') return (await fallback(c)).apply(asn, changes);
        }
      }
      const action = `apply ${changes.length} change${changes.length === 1 ? '' : 's'}`;
      const deadline = Date.now() + timeoutMs;
      const left = () => Math.max(1, deadline - Date.now());
      const rejections: { index: number; reply: VtyReply }[] = [];
      // CMD_WARNING and friends are failures, as vtysh -c exits 1 on them; a command that
      // succeeded but printed a "%" line is one too (FRR and Quagga start every error with "%").
      const failed = (r: VtyReply) => r.status !== 0 || /^%/m.test(r.text);
      for (let i = 0; i < cmds.length; ) {
        // the block commands (configure terminal, router bgp N, address-family...) one at a time:
        // a refused one (another ASN, a locked configuration) stops the batch before any network
        // line; each run of network lines is sent at once and every reply checked
        let j = i + 1;
        if (NETWORK_LINE.test(cmds[i]!)) while (j < cmds.length && NETWORK_LINE.test(cmds[j]!)) j++;
        let replies: VtyReply[];
        try {
          replies = await c.send(cmds.slice(i, j), left());
        } catch (e) {
          throw connFailure(e, action, cmds, i > 0);
        }
        replies.forEach((r, k) => {
          if (failed(r)) rejections.push({ index: i + k, reply: r });
        });
        const blockRefused = j === i + 1 && !NETWORK_LINE.test(cmds[i]!) && rejections.length > 0 && rejections.at(-1)!.index === i;
        i = j;
        if (blockRefused) {
          // leave configure mode, so the connection is back where a read expects it
          if (i > 1 && cmds[i - 1] !== 'end') await c.send(['end'], left()).catch(() => c.close());
          break;
        }
      }
      if (rejections.length > 0) throw rejected(cmds, rejections);
    },

    neighbors: (): Promise<BgpNeighbor[]> =>
      reading(['show bgp summary json'], 'read the BGP neighbors', (v) => v.neighbors(), ([r]) => {
        try {
          return parseBgpSummaryJson(r!.text);
        } catch (e) {
          throw new VipError('VIP_E_SPEAKER_DOWN', `could not read bgpd's BGP summary${where}: ${(e as Error).message}`, { output: tail(r!.text) });
        }
      }),

    transport: () => used,
  };

  function rejected(cmds: string[], all: { index: number; reply: VtyReply }[]): VipError {
    const { index: i, reply: r } = all[0]!;
    const output = r.text.trim();
    const f = classifyVtyshFailure(output);
    const stoppedAt = NETWORK_LINE.test(cmds[i]!)
      ? `${all.length === 1 ? 'the other network lines were' : 'every other network line was'} applied`
      : 'no network line was sent';
    const more = all.length > 1 ? ` (and ${all.length - 1} more: ${all.slice(1, 4).map((x) => `"${cmds[x.index]}"`).join(', ')}${all.length > 4 ? ', ...' : ''})` : '';
    let code: ErrorCode = 'VIP_E_APPLY';
    let message = `bgpd rejected the change${where}: "${cmds[i]}" answered ${statusText(r.status)}${output ? `: ${output}` : ''}${more}\n(${stoppedAt}; vip-mgmt status shows what is configured)`;
    if (f.kind === 'locked') {
      code = 'VIP_E_SPEAKER_LOCKED';
      message = `the FRR configuration${where} is locked by another session ("${f.message}"): wait for it to leave configure mode, then retry`;
    }
    return new VipError(code, message, details(cmds, { failed: cmds[i], index: i, status: r.status, stderr: tail(output), rejected: all.slice(0, 10).map((x) => cmds[x.index]) }));
  }
}

/** The lines of a batch that are sent together: `network P ...` and `no network P`. */
const NETWORK_LINE = /^(no )?network /;

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
