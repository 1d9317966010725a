// The GoBGP 3 speaker: the only place that runs the gobgp CLI (against gobgpd's gRPC API, bgp.gobgp.api); it builds every argv and maps gobgp's failures to VipErrors.
//
// GoBGP keeps no configuration vip-mgmt could read back: routes added through the API live in its
// global rib until gobgpd restarts. So this speaker is `stateless` (core/journal.ts: every run
// re-announces what state.announced wants and GoBGP lost), readRunning is the locally originated
// part of the global rib (AS path -> route-map) plus the local AS (`global -j`), and every
// VIP-RANK-n / VIP-DRAIN route-map "exists": the AS path is computed here (core/gobgp.ts).
//
// Choices (GoBGP 3.10, lab numbers in BENCHMARKS.md):
// - Apply (bgp.gobgp.apply: grpc, the default) goes through gobgpd's gRPC API itself: one
//   AddPathStream call for the whole batch (gobgp-api.ts, with @grpc/grpc-js and protobufjs, the
//   gRPC and protobuf libraries etcd3 uses too). No npm client for GoBGP's API exists, so the few
//   messages it needs are declared there. 1000 routes: ~0.1 s, against ~5 s through the CLI.
// - Everything else is the gobgp CLI: reads are three calls a run, not one per route, and the CLI
//   parses GoBGP's answers (global, ribs, neighbors) into JSON for us.
// - bgp.gobgp.apply: cli keeps the CLI for apply too. `global rib add` takes one route: apply runs
//   APPLY_PARALLEL of them at once (one per CPU), every one checked; a rejected one makes the apply
//   VIP_E_APPLY naming it, the others applied (vip-mgmt status shows what is announced).
// - Reads (global, the two ribs, neighbors) run in parallel.
// - A full-table LB would print its whole rib for `global rib -j`; the VIP speakers this is for
//   carry their own routes (the routers' routes, if taken, are filtered out, not avoided).
import { availableParallelism } from 'node:os';
import { runProgram } from './run.js';
import { VipError } from '../core/errors.js';
import { computedRouteMaps } from '../core/policy.js';
import { normalisePrefix } from '../core/prefix.js';
import {
  gobgpApiPath,
  gobgpChangeArgv,
  gobgpPrefixStates,
  gobgpUnreachable,
  parseGlobal,
  parseGlobalRib,
  parseNeighbors,
  runningFromGobgp,
  type GobgpRoute,
} from '../core/gobgp.js';
import type { BgpNeighbor } from '../core/doctor.js';
import type { GobgpApi } from '../config/schema.js';
import type { PrefixState, RunningBgp, SpeakerChange } from '../core/types.js';
import type { DaemonSpeakerOptions } from './speaker.js';
import type { DiagnosableSpeaker } from './vtysh.js';
import { shortArgv, tail } from './exabgp.js';

/** gobgp processes at once during an apply: one per CPU (at least 2, at most 8). Each is CPU-bound
 *  (a Go start and a gRPC call): on this 2-core lab, 300 adds took 15.3 ms a route one at a time,
 *  10.2 ms two at a time, 12.7 four, 16.9 eight (2026-12-02, other jobs running). */
export const APPLY_PARALLEL = Math.min(8, Math.max(2, availableParallelism()));

/** One gRPC call per gobgp process: one Go scheduler thread and no garbage collection are enough,
 *  and 100 `global rib add` in a row took 1.13 s instead of 1.69 s (lab, 2026-12-02, loaded machine). */
const RUN_ENV = { LC_ALL: 'C', GOMAXPROCS: '1', GOGC: 'off' };

export interface GobgpSettings {
  cli: string;
  api: GobgpApi;
  /** how routes are added and withdrawn: gobgpd's gRPC API (one call a batch) or the CLI (one run a route) */
  apply?: 'grpc' | 'cli';
}

export interface GobgpSpeaker extends DiagnosableSpeaker {
  /** one `global rib add/del` after the other: the benchmark's baseline, not used by commands */
  applyOneByOne(asn: number, changes: SpeakerChange[]): Promise<void>;
  /** the CLI, APPLY_PARALLEL runs at once (bgp.gobgp.apply: cli), for the benchmark whatever the setting */
  applyCli(asn: number, changes: SpeakerChange[]): Promise<void>;
}

export function createGobgpSpeaker(opts: DaemonSpeakerOptions<GobgpSettings>): GobgpSpeaker {
  const { cli, api } = opts.daemon;
  const { timeoutMs, prepend } = opts;
  const target = 'unix' in api ? ['--target', `unix://${api.unix}`] : ['-u', api.host, '-p', String(api.port)];
  const where = 'unix' in api ? `unix://${api.unix}` : `${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}`;
  const routeMaps = computedRouteMaps(prepend);

  const run = async (purpose: 'read' | 'apply', argv: string[], action: string): Promise<string> => {
    const full = [...target, ...argv];
    const r = await runProgram(cli, full, { timeoutMs, env: RUN_ENV });
    const details = { command: shortArgv(cli, full), exitCode: r.exitCode ?? null, output: tail(r.all), api: where };
    if (r.code === 'ENOENT' || r.code === 'EACCES') {
      throw new VipError('VIP_E_SPEAKER_MISSING', `${cli} ${r.code === 'ENOENT' ? 'not found' : 'not executable'}: install gobgpd (apt-get install gobgpd) or set bgp.gobgp.cli to its full path`, details);
    }
    if (r.timedOut) {
      throw new VipError('VIP_E_SPEAKER_DOWN', `gobgp timed out after ${timeoutMs} ms trying to ${action} on ${where}: check that gobgpd runs and answers there`, details);
    }
    if (!r.failed) return r.stdout;
    const said = tail(r.all, 3) || (r.shortMessage ?? 'failed');
    if (purpose === 'read' || gobgpUnreachable(r.all) || r.exitCode === undefined) {
      throw new VipError(
        'VIP_E_SPEAKER_DOWN',
        `gobgpd did not answer on ${where} trying to ${action} (${said}): start gobgpd with --api-hosts ${where}, or fix bgp.gobgp.api`,
        details,
      );
    }
    throw new VipError('VIP_E_APPLY', `gobgpd rejected "${argv.join(' ')}": ${said}`, details);
  };

  const json = async <T>(argv: string[], action: string, parse: (t: string) => T): Promise<T> => {
    const text = await run('read', [...argv, '-j'], action);
    try {
      return parse(text);
    } catch (e) {
      throw new VipError('VIP_E_SPEAKER_DOWN', `could not read gobgp's answer to "${argv.join(' ')}": ${(e as Error).message}`, { output: tail(text) });
    }
  };

  const ribs = async (action: string): Promise<{ routes: GobgpRoute[]; text: string }> => {
    const texts = await Promise.all(['ipv4', 'ipv6'].map((f) => run('read', ['global', 'rib', '-a', f, '-j'], action)));
    try {
      return { routes: texts.flatMap((t) => parseGlobalRib(t)), text: texts.join('\n') };
    } catch (e) {
      throw new VipError('VIP_E_SPEAKER_DOWN', `could not read gobgp's global rib: ${(e as Error).message}`, { output: tail(texts.join('\n')) });
    }
  };

  const neighbors = () => json(['neighbor'], 'read the BGP neighbors', parseNeighbors);

  const readRunning = async (): Promise<RunningBgp> => {
    const action = 'read what GoBGP announces';
    const [asn, rib] = await Promise.all([json(['global'], action, parseGlobal), ribs(action)]);
    return runningFromGobgp(rib.routes, asn, prepend, routeMaps, rib.text);
  };

  const wanted = (prefixes: string[]) =>
    [...new Set(prefixes.map((p) => {
      const n = normalisePrefix(p);
      if (!n) throw new TypeError(`not a prefix: ${p}`);
      return n;
    }))];

  const lookup = async (prefixes: string[]): Promise<Map<string, PrefixState>> => {
    const action = `look up ${prefixes.length} prefixes`;
    const [rib, peers] = await Promise.all([ribs(action), neighbors()]);
    return gobgpPrefixStates(rib.routes, wanted(prefixes), peers);
  };

  /** Every change, PARALLEL at a time; all are tried, the first failure (exit 6 before a rejection) is thrown. */
  const send = async (asn: number, changes: SpeakerChange[], parallel: number): Promise<void> => {
    const argvs = changes.map((c) => gobgpChangeArgv(asn, c, prepend));
    const action = `apply ${changes.length} change${changes.length === 1 ? '' : 's'}`;
    const failures: VipError[] = [];
    let next = 0;
    const worker = async () => {
      while (next < argvs.length && !failures.some((f) => f.exit === 6)) {
        const argv = argvs[next++]!;
        try {
          await run('apply', argv, action);
        } catch (e) {
          if (!(e instanceof VipError)) throw e;
          failures.push(e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, argvs.length) }, worker));
    const down = failures.find((f) => f.exit === 6);
    if (down) throw new VipError(down.code, `${down.message} (part of the change may have been applied: vip-mgmt status shows what is announced)`, down.details);
    if (failures.length > 0) {
      throw new VipError(
        'VIP_E_APPLY',
        `${failures.length} of ${changes.length} changes rejected, the others applied: ${failures.slice(0, 3).map((f) => f.message).join('; ')}${failures.length > 3 ? '; ...' : ''}`,
        failures[0]!.details,
      );
    }
  };

  return {
    stateless: true,
    readRunning,
    lookup,
    async snapshot(prefixes) {
      const action = `read back ${prefixes.length} prefixes`;
      const [asn, rib, peers] = await Promise.all([json(['global'], action, parseGlobal), ribs(action), neighbors()]);
      return { running: runningFromGobgp(rib.routes, asn, prepend, routeMaps, rib.text), table: gobgpPrefixStates(rib.routes, wanted(prefixes), peers) };
    },
    async apply(asn, changes) {
      if (changes.length === 0) return;
      if (opts.daemon.apply === 'cli') return send(asn, changes, APPLY_PARALLEL);
      const { addPathStream } = await import('./gobgp-api.js');
      await addPathStream(api, where, changes.map((c) => gobgpApiPath(asn, c, prepend)), timeoutMs);
    },
    async applyOneByOne(asn, changes) {
      await send(asn, changes, 1);
    },
    async applyCli(asn, changes) {
      await send(asn, changes, APPLY_PARALLEL);
    },
    neighbors: async (): Promise<BgpNeighbor[]> => neighbors(),
  };
}
