// The BIRD 2 speaker: the only place that runs birdc (over BIRD's control socket, bgp.bird.socket) and writes the include file vip-mgmt owns (bgp.bird.include); it maps birdc's failures to VipErrors.
//
// BIRD keeps its configuration (not `stateless`): the VIPs are static routes in the include file
// (core/bird.ts has its format), which the operator's bird.conf includes and whose filter
// `vip_mgmt_export` the operator's BGP protocols export with. An apply:
//   1. reads what BIRD runs now (`show route where proto ~ "vip_mgmt_*"`): the base the changes go
//      onto is BIRD, not the file, so a file left behind by a configure that timed out, or edited by
//      hand, never brings back or drops a route the cycle did not plan;
//   2. writes the new include atomically (writeAtomic: temp file, fsync, rename; mode 0644, BIRD
//      re-reads it as its own user);
//   3. runs `birdc configure`. BIRD rejects it (a parse error anywhere in its configuration, the
//      operator's part included): BIRD keeps running its previous configuration, so the previous
//      include is put back (removed when there was none) and the apply fails VIP_E_APPLY (exit 1)
//      with BIRD's message. BIRD unreachable: the include is put back too, exit 6.
// The read-back (snapshot) is BIRD's table again: what the verification of every command sees.
//
// readRunning: networks are vip-mgmt's static routes BIRD runs, each with the route-map of the
// protocol that holds it, checked against the AS path BIRD exports (`show route export NAME all`,
// after vip_mgmt_export); asn is the Local AS of BIRD's BGP protocols; routeMaps are every
// VIP-RANK-n / VIP-DRAIN (the include written in the same apply defines them). lookup's advertisedTo
// is the number of Established BGP protocols BIRD exports the route to: BIRD's own answer.
//
// Choices (BIRD 2.0.12, lab numbers in BENCHMARKS.md):
// - birdc, not the control socket spoken directly: it is BIRD's documented client, a C program that
//   starts in ~2 ms, and `-v` gives every reply line its numeric code to classify answers by.
// - One birdc per command, the reads in parallel (BIRD answers each socket client on its own).
import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { runProgram } from './run.js';
import { writeAtomic } from './state.js';
import { VipError } from '../core/errors.js';
import {
  applyBirdChanges,
  birdConfigureOutcome,
  birdEstablished,
  birdInclude,
  birdNeighbors,
  birdNetworks,
  birdPrefixStates,
  birdProtocolsWithoutFilter,
  birdReplyError,
  birdUnreachable,
  parseBirdInclude,
  parseBirdProtocols,
  parseBirdReply,
  parseBirdRoutes,
  runningFromBird,
  BIRD_FILTER,
  type BirdExports,
  type BirdProtocol,
  type BirdRoute,
} from '../core/bird.js';
import { normalisePrefix } from '../core/prefix.js';
import type { BgpNeighbor, BirdIncludeReport } from '../core/doctor.js';
import type { PrefixState, RunningBgp, SpeakerChange } from '../core/types.js';
import type { DaemonSpeakerOptions } from './speaker.js';
import type { DiagnosableSpeaker } from './vtysh.js';
import { shortArgv, tail } from './exabgp.js';

export interface BirdSettings {
  birdc: string;
  socket: string;
  include: string;
}

export interface BirdSpeaker extends DiagnosableSpeaker {
  /** one include rewrite + `birdc configure` per change: the benchmark's baseline, not used by commands */
  applyOneByOne(asn: number, changes: SpeakerChange[]): Promise<void>;
  /** doctor: the include file (present, what it holds) and the BGP protocols not exporting with vip_mgmt_export */
  includeReport(): Promise<BirdIncludeReport>;
}


const SHOW_OURS = ['show', 'route', 'where', 'proto', '~', '"vip_mgmt_*"'];
const SHOW_PROTOCOLS = ['show', 'protocols', 'all'];

export function createBirdSpeaker(opts: DaemonSpeakerOptions<BirdSettings>): BirdSpeaker {
  const { birdc, socket, include } = opts.daemon;
  const { timeoutMs, prepend } = opts;

  /** birdc -v -s SOCKET ARGV: the reply's text lines; every failure a VipError. */
  const run = async (purpose: 'read' | 'apply', argv: string[], action: string): Promise<{ lines: string[]; codes: number[]; text: string }> => {
    const full = ['-v', '-s', socket, ...argv];
    const r = await runProgram(birdc, full, { timeoutMs, env: { LC_ALL: 'C' } });
    const details = { command: shortArgv(birdc, full), exitCode: r.exitCode ?? null, output: tail(r.all), socket };
    if (r.code === 'ENOENT' || r.code === 'EACCES') {
      throw new VipError('VIP_E_SPEAKER_MISSING', `${birdc} ${r.code === 'ENOENT' ? 'not found' : 'not executable'}: install bird2 (apt-get install bird2) or set bgp.bird.birdc to its full path`, details);
    }
    if (r.timedOut) {
      throw new VipError('VIP_E_SPEAKER_DOWN', `birdc timed out after ${timeoutMs} ms trying to ${action} on ${socket}: check that bird runs and answers there`, details);
    }
    if (birdUnreachable(r.all)) {
      const denied = /Permission denied/i.test(r.all);
      throw new VipError(
        'VIP_E_SPEAKER_DOWN',
        denied
          ? `BIRD's control socket ${socket} refused vip-mgmt trying to ${action} (permission denied): run vip-mgmt as root or as a member of the socket's group (Debian: bird), or fix bgp.bird.socket`
          : `BIRD did not answer on ${socket} trying to ${action} (${tail(r.all, 1)}): start bird (systemctl start bird), or fix bgp.bird.socket`,
        details,
      );
    }
    const reply = parseBirdReply(r.stdout);
    if (reply.code === null) {
      throw new VipError('VIP_E_SPEAKER_DOWN', `birdc gave no answer trying to ${action} on ${socket} (${tail(r.all, 1) || r.shortMessage || 'no output'})`, details);
    }
    const err = birdReplyError(reply);
    if (err && purpose === 'read') {
      throw new VipError('VIP_E_SPEAKER_DOWN', `BIRD answered "${err}" trying to ${action} on ${socket}`, details);
    }
    return { lines: reply.lines, codes: reply.codes, text: r.stdout };
  };

  const routes = async (action: string): Promise<{ routes: BirdRoute[]; text: string }> => {
    const r = await run('read', SHOW_OURS, action);
    return { routes: parseBirdRoutes(r.lines), text: r.lines.join('\n') };
  };
  const protocols = async (action: string): Promise<BirdProtocol[]> => parseBirdProtocols((await run('read', SHOW_PROTOCOLS, action)).lines);

  /** What BIRD exports to each Established BGP protocol, after the export filter (the AS path the
   *  router gets, less BGP's own AS). A protocol whose channel went down meanwhile exports nothing. */
  const exports = async (p: BirdProtocol[], action: string): Promise<BirdExports> => {
    const names = birdEstablished(p);
    const lists = await Promise.all(
      names.map(async (name) => {
        try {
          return parseBirdRoutes((await run('read', ['show', 'route', 'export', name, 'all', ...SHOW_OURS.slice(2)], action)).lines);
        } catch (e) {
          // "9001 No valid tables": the channel went down between the two reads
          if (e instanceof VipError && /answered "No valid tables"/.test(e.message)) return [];
          throw e;
        }
      }),
    );
    return new Map(names.map((n, i) => [n, lists[i]!]));
  };

  /** vip-mgmt's routes, the protocols and the exports: what readRunning, lookup and snapshot are made of. */
  const readAll = async (action: string) => {
    const [r, p] = await Promise.all([routes(action), protocols(action)]);
    return { ...r, protocols: p, exports: await exports(p, action) };
  };

  const readRunning = async (): Promise<RunningBgp> => {
    const a = await readAll('read what BIRD announces');
    return runningFromBird(a.routes, a.protocols, prepend, a.text, a.exports);
  };

  const wanted = (prefixes: string[]) =>
    [...new Set(prefixes.map((p) => {
      const n = normalisePrefix(p);
      if (!n) throw new TypeError(`not a prefix: ${p}`);
      return n;
    }))];

  const readInclude = async (): Promise<string | null> => {
    try {
      return await readFile(include, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new VipError('VIP_E_APPLY', `cannot read bgp.bird.include ${include}: ${(e as Error).message}`, { include });
    }
  };

  const putBack = async (previous: string | null): Promise<string> => {
    try {
      if (previous === null) await rm(include, { force: true });
      else await writeAtomic(include, previous, { mode: 0o644 });
      return previous === null ? `${include} removed again (there was none before)` : `the previous ${include} is back in place`;
    } catch (e) {
      return `putting the previous ${include} back failed too (${(e as Error).message}): vip-mgmt render prints what it should hold`;
    }
  };

  const applyBatch = async (asn: number, changes: SpeakerChange[]): Promise<void> => {
    const action = `apply ${changes.length} change${changes.length === 1 ? '' : 's'}`;
    const base = new Map(birdNetworks((await routes(action)).routes).map((n) => [n.prefix, n.routeMap!]));
    const next = birdInclude(asn, applyBirdChanges(base, changes), prepend);
    const previous = await readInclude();
    try {
      await writeAtomic(include, next, { mode: 0o644 });
    } catch (e) {
      throw new VipError('VIP_E_APPLY', `cannot write bgp.bird.include: ${(e as Error).message} (vip-mgmt needs write access to ${dirname(include)}: the new file is renamed over the old one); BIRD was not touched`, { include });
    }
    let answer;
    try {
      answer = await run('apply', ['configure'], action);
    } catch (e) {
      const back = await putBack(previous);
      if (e instanceof VipError) throw new VipError(e.code, `${e.message}; ${back}`, e.details);
      throw e;
    }
    const outcome = birdConfigureOutcome({ code: answer.codes.at(-1) ?? null, codes: answer.codes, lines: answer.lines });
    if (!outcome.ok) {
      const back = await putBack(previous);
      throw new VipError(
        'VIP_E_APPLY',
        `BIRD rejected the new configuration ("${outcome.message}") and keeps running its previous one; ${back}: fix what BIRD names (bird -p -c BIRD.CONF checks a configuration), then run again`,
        { command: [birdc, '-s', socket, 'configure'], output: tail(answer.text), include },
      );
    }
  };

  return {
    readRunning,
    async lookup(prefixes): Promise<Map<string, PrefixState>> {
      const a = await readAll(`look up ${prefixes.length} prefixes`);
      return birdPrefixStates(a.routes, wanted(prefixes), a.exports);
    },
    async snapshot(prefixes) {
      const a = await readAll(`read back ${prefixes.length} prefixes`);
      return { running: runningFromBird(a.routes, a.protocols, prepend, a.text, a.exports), table: birdPrefixStates(a.routes, wanted(prefixes), a.exports) };
    },
    async apply(asn, changes) {
      if (changes.length === 0) return;
      await applyBatch(asn, changes);
    },
    async applyOneByOne(asn, changes) {
      for (const c of changes) await applyBatch(asn, [c]);
    },
    neighbors: async (): Promise<BgpNeighbor[]> => birdNeighbors(await protocols('read the BGP protocols')),
    async includeReport(): Promise<BirdIncludeReport> {
      const p = await protocols('read the BGP protocols');
      const bgp = p.filter((x) => x.proto === 'BGP').length;
      let text: string | null = null;
      let error: string | null = null;
      try {
        text = await readFile(include, 'utf8');
      } catch (e) {
        error = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message;
      }
      return {
        include,
        routes: text === null ? null : parseBirdInclude(text).size,
        hasFilter: text !== null && new RegExp(`^filter ${BIRD_FILTER}\\b`, 'm').test(text),
        error,
        withoutFilter: birdProtocolsWithoutFilter(p),
        bgpProtocols: bgp,
      };
    },
  };
}
