// The ExaBGP 4 speaker: the only place that runs exabgpcli (over ExaBGP's named pipes /run/exabgp/<pipename>.{in,out}); it builds every argv and maps exabgpcli's failures to VipErrors.
//
// ExaBGP keeps no configuration vip-mgmt could read back: what it announces lives in its adj-rib
// out until it restarts. So this speaker is `stateless` (core/journal.ts: every run re-announces
// what state.announced wants and ExaBGP lost), readRunning is the adj-rib out (`show adj-rib out
// extensive`: prefix, AS path -> route-map) plus the local AS (`show neighbor extensive`), and
// every VIP-RANK-n / VIP-DRAIN route-map "exists": the AS path is computed here (core/exabgp.ts).
//
// Choices (ExaBGP 4.2.21, lab numbers in BENCHMARKS.md):
// - exabgpcli is one Python start per command (~0.2 s), so apply groups a batch into one
//   `announce attributes ... nlri P1 P2 ...` per family and route-map (and one `withdraw
//   attributes` per family), not one `announce route` per prefix.
// - Commands run one after another, never in parallel: answers come back on the one .out pipe, and
//   two readers would take each other's. Another program using the same pipes at the same moment
//   (an operator's exabgpcli) can still steal an answer: the read-back then fails to verify, exit 1.
// - exabgpcli exits 0 when ExaBGP rejects a command: its output is checked (core/exabgp.ts
//   classifyExabgpcli); an apply stops at the first rejected command, the ones before it applied.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { runProgram } from './run.js';
import { VipError } from '../core/errors.js';
import { computedRouteMaps } from '../core/policy.js';
import { normalisePrefix } from '../core/prefix.js';
import {
  classifyExabgpcli,
  exabgpCommands,
  exabgpPrefixStates,
  exabgpRouteCommands,
  parseAdjRibOut,
  parseNeighborExtensive,
  runningFromExabgp,
} from '../core/exabgp.js';
import type { BgpNeighbor } from '../core/doctor.js';
import type { PrefixState, RunningBgp, SpeakerChange } from '../core/types.js';
import type { DaemonSpeakerOptions } from './speaker.js';
import type { DiagnosableSpeaker } from './vtysh.js';

export interface ExabgpSettings {
  cli: string;
  pipename: string;
}

export interface ExabgpSpeaker extends DiagnosableSpeaker {
  /** one `announce route` / `withdraw route` per change: the benchmark's baseline, not used by commands */
  applyOneByOne(asn: number, changes: SpeakerChange[]): Promise<void>;
}

export function createExabgpSpeaker(opts: DaemonSpeakerOptions<ExabgpSettings>): ExabgpSpeaker {
  const { cli, pipename } = opts.daemon;
  const { timeoutMs, prepend } = opts;
  const pipes = `/run/exabgp/${pipename}.in and .out`;
  const routeMaps = computedRouteMaps(prepend);

  const run = async (purpose: 'read' | 'apply', argv: string[], action: string): Promise<string> => {
    // before every command: the watchdog daemon keeps this speaker for its lifetime, ExaBGP may die meanwhile
    await probeReader(pipename, action);
    const r = await runProgram(cli, argv, { timeoutMs, env: { exabgp_api_pipename: pipename, LC_ALL: 'C' } });
    const details = { command: shortArgv(cli, argv), exitCode: r.exitCode ?? null, output: tail(r.all), pipename };
    if (r.code === 'ENOENT' || r.code === 'EACCES') {
      throw new VipError('VIP_E_SPEAKER_MISSING', `${cli} ${r.code === 'ENOENT' ? 'not found' : 'not executable'}: install exabgp (apt-get install exabgp) or set bgp.exabgp.cli to its full path`, details);
    }
    if (r.timedOut) {
      throw new VipError(
        'VIP_E_SPEAKER_DOWN',
        `exabgpcli timed out after ${timeoutMs} ms trying to ${action}: check that exabgp runs with exabgp_api_pipename=${pipename}` +
          (purpose === 'apply' ? ' (part of the change may have been sent: vip-mgmt status shows what is announced)' : ''),
        details,
      );
    }
    const v = classifyExabgpcli(r.exitCode, r.all);
    if (v.kind === 'unavailable' || (r.failed && v.kind === 'ok')) {
      const why = v.kind === 'unavailable' ? v.message : (r.shortMessage ?? 'failed');
      throw new VipError(
        'VIP_E_SPEAKER_DOWN',
        `ExaBGP did not answer on ${pipes} trying to ${action} ("${why}"): start exabgp with exabgp_api_pipename=${pipename} (the pipes must exist first: mkfifo -m 600 /run/exabgp/${pipename}.in /run/exabgp/${pipename}.out), or fix bgp.exabgp.pipename`,
        details,
      );
    }
    if (v.kind === 'rejected') {
      if (purpose === 'apply') {
        throw new VipError('VIP_E_APPLY', `${v.message} trying to ${action}; the commands before it were applied: vip-mgmt status shows what is announced`, details);
      }
      throw new VipError('VIP_E_SPEAKER_DOWN', `${v.message} trying to ${action}: is this ExaBGP 4?`, details);
    }
    return r.stdout;
  };

  const adjRibOut = async (action: string) => parseAdjRibOut(await run('read', ['show', 'adj-rib', 'out', 'extensive'], action));

  const readRunning = async (): Promise<RunningBgp> => {
    const action = 'read what ExaBGP announces';
    const neighborsText = await run('read', ['show', 'neighbor', 'extensive'], action);
    const ribText = await run('read', ['show', 'adj-rib', 'out', 'extensive'], action);
    const { localAs } = parseNeighborExtensive(neighborsText);
    return runningFromExabgp(parseAdjRibOut(ribText), localAs, prepend, routeMaps, ribText);
  };

  const wanted = (prefixes: string[]) =>
    [...new Set(prefixes.map((p) => {
      const n = normalisePrefix(p);
      if (!n) throw new TypeError(`not a prefix: ${p}`);
      return n;
    }))];

  const lookup = async (prefixes: string[]): Promise<Map<string, PrefixState>> => exabgpPrefixStates(await adjRibOut(`look up ${prefixes.length} prefixes`), wanted(prefixes));

  const send = async (cmds: string[][], n: number) => {
    const action = `apply ${n} change${n === 1 ? '' : 's'}`;
    for (const argv of cmds) await run('apply', argv, action);
  };

  return {
    stateless: true,
    readRunning,
    lookup,
    async snapshot(prefixes) {
      // one exabgpcli: the read-back compares networks and the table, never the AS
      const text = await run('read', ['show', 'adj-rib', 'out', 'extensive'], `read back ${prefixes.length} prefixes`);
      const routes = parseAdjRibOut(text);
      return { running: runningFromExabgp(routes, opts.asn, prepend, routeMaps, text), table: exabgpPrefixStates(routes, wanted(prefixes)) };
    },
    async apply(asn, changes) {
      if (changes.length === 0) return;
      await send(exabgpCommands(asn, changes, prepend), changes.length);
    },
    async applyOneByOne(asn, changes) {
      await send(exabgpRouteCommands(asn, changes, prepend), changes.length);
    },
    async neighbors(): Promise<BgpNeighbor[]> {
      return parseNeighborExtensive(await run('read', ['show', 'neighbor', 'extensive'], 'read the BGP neighbors')).neighbors;
    },
  };
}

/**
 * Fail at once when nothing reads ExaBGP's command pipe: with ExaBGP gone, exabgpcli waits ~5 s for
 * it per command (lab: 5.2 s) before it says "command timeout". Opening a FIFO for writing without
 * blocking fails with ENXIO exactly when it has no reader; the probe writes nothing and closes at
 * once, as exabgpcli itself opens and closes the pipe per command. Only /run/exabgp/ (where
 * exabgpcli looks first) is probed; pipes elsewhere are left for exabgpcli to find.
 */
async function probeReader(pipename: string, action: string): Promise<void> {
  const path = `/run/exabgp/${pipename}.in`;
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENXIO') return;
    throw new VipError(
      'VIP_E_SPEAKER_DOWN',
      `ExaBGP is not running: nothing reads ${path} (trying to ${action}): start exabgp with exabgp_api_pipename=${pipename}, or fix bgp.exabgp.pipename`,
      { pipe: path },
    );
  } finally {
    await fh?.close();
  }
}

/** The command for error details: a 1000-prefix argv is kept readable. */
export function shortArgv(bin: string, argv: string[], keep = 16): string[] {
  return argv.length <= keep ? [bin, ...argv] : [bin, ...argv.slice(0, keep), `... (${argv.length - keep} more arguments)`];
}

export function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
