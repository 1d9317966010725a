// The BGP speaker a run talks to (bgp.speaker): FRR over bgpd's vty socket (vty.ts) with vtysh as its fallback, Quagga through vtysh (vtysh.ts), BIRD 2 (bird.ts), ExaBGP 4 (exabgp.ts), GoBGP 3 (gobgp.ts).
//
// Every adapter module is loaded at the speaker's first call: each costs start-up time that runs
// using another speaker never need, and its configuration errors then surface at that call.
import { VipError } from '../core/errors.js';
import type { PrependRule } from '../core/policy.js';
import type { GobgpApi, SpeakerKind } from '../config/schema.js';
import type { DiagnosableSpeaker, SpeakerOptions } from './vtysh.js';
import { createVtySpeaker, type TransportInfo } from './vty.js';

export interface OpenSpeakerOptions extends Omit<SpeakerOptions, 'dialect'> {
  /** bgp.speaker; `dialect` (frr | quagga) is its older name, still taken */
  speaker?: SpeakerKind;
  dialect?: 'frr' | 'quagga';
  /** bgp.transport: 'auto' (FRR: the vty socket, vtysh when it cannot be used) or 'vtysh' */
  transport?: 'auto' | 'vtysh';
  /** this DC's AS and the prepend rule: the speakers that build AS paths themselves need them */
  asn?: number;
  prepend?: PrependRule;
  bird?: { birdc: string; socket: string; include: string };
  exabgp?: { cli: string; pipename: string };
  gobgp?: { cli: string; api: GobgpApi };
}

/** What the adapters of the non-FRR speakers receive. */
export interface DaemonSpeakerOptions<T> {
  asn: number;
  prepend: PrependRule;
  timeoutMs: number;
  daemon: T;
}

export function openSpeaker(opts: OpenSpeakerOptions): DiagnosableSpeaker & Partial<TransportInfo> {
  const kind: SpeakerKind = opts.speaker ?? opts.dialect ?? 'frr';
  switch (kind) {
    case 'bird':
      return lazySpeaker(async () => (await import('./bird.js')).createBirdSpeaker(daemonOptions(opts, 'bird', opts.bird)));
    case 'exabgp':
      return lazySpeaker(async () => (await import('./exabgp.js')).createExabgpSpeaker(daemonOptions(opts, 'exabgp', opts.exabgp)), { stateless: true });
    case 'gobgp':
      return lazySpeaker(async () => (await import('./gobgp.js')).createGobgpSpeaker(daemonOptions(opts, 'gobgp', opts.gobgp)), { stateless: true });
    case 'frr':
    case 'quagga':
      return openVtysh(opts, kind);
  }
}

function daemonOptions<T>(opts: OpenSpeakerOptions, kind: string, daemon: T | undefined): DaemonSpeakerOptions<T> {
  if (daemon === undefined || opts.asn === undefined || opts.prepend === undefined) {
    throw new VipError('VIP_E_CONFIG', `bgp.speaker ${kind} needs bgp.${kind}, this DC's AS and the prepend rule (a caller bug: makeDeps passes them)`);
  }
  return { asn: opts.asn, prepend: opts.prepend, timeoutMs: opts.timeoutMs, daemon };
}

/** vtysh.ts is loaded only when vtysh is used: its module costs start-up time the socket path never needs. */
function openVtysh(opts: OpenSpeakerOptions, dialect: 'frr' | 'quagga'): DiagnosableSpeaker & Partial<TransportInfo> {
  const viaVtysh = async () => (await import('./vtysh.js')).createSpeaker({ ...opts, dialect });
  if (dialect !== 'frr' || opts.transport === 'vtysh') return lazySpeaker(viaVtysh);
  const pathspace = opts.pathspace || undefined;
  // the same rule vtysh.ts applies, checked before the name becomes part of a socket path
  if (pathspace !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(pathspace)) {
    throw new VipError('VIP_E_CONFIG', `bgp.pathspace "${pathspace}" is not a plain name (letters, digits, "_", "-", "."): fix the config`, { path: 'bgp.pathspace' });
  }
  return createVtySpeaker({ pathspace, timeoutMs: opts.timeoutMs, fallback: viaVtysh });
}

/** A speaker whose module loads at its first call (configuration errors then surface there). */
function lazySpeaker(load: () => Promise<DiagnosableSpeaker>, flags: { stateless?: boolean } = {}): DiagnosableSpeaker {
  let p: Promise<DiagnosableSpeaker> | null = null;
  const get = () => (p ??= load());
  return {
    ...(flags.stateless ? { stateless: true } : {}),
    readRunning: async () => (await get()).readRunning(),
    apply: async (asn, changes) => (await get()).apply(asn, changes),
    lookup: async (prefixes) => (await get()).lookup(prefixes),
    snapshot: async (prefixes) => {
      const s = await get();
      return s.snapshot ? s.snapshot(prefixes) : { running: await s.readRunning(), table: await s.lookup(prefixes) };
    },
    neighbors: async () => (await get()).neighbors(),
  };
}
