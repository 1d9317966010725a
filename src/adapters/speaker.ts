// The BGP speaker a run talks to: FRR over bgpd's vty socket (vty.ts) with vtysh as its fallback, or vtysh alone (vtysh.ts).
import { VipError } from '../core/errors.js';
import type { DiagnosableSpeaker, SpeakerOptions } from './vtysh.js';
import { createVtySpeaker, type TransportInfo } from './vty.js';

export interface OpenSpeakerOptions extends SpeakerOptions {
  /** bgp.transport: 'auto' (FRR: the vty socket, vtysh when it cannot be used) or 'vtysh' */
  transport?: 'auto' | 'vtysh';
}

/** vtysh.ts is loaded only when vtysh is used: its module costs start-up time the socket path never needs. */
export function openSpeaker(opts: OpenSpeakerOptions): DiagnosableSpeaker & Partial<TransportInfo> {
  const viaVtysh = async () => (await import('./vtysh.js')).createSpeaker(opts);
  if (opts.dialect !== 'frr' || opts.transport === 'vtysh') return lazySpeaker(viaVtysh);
  const pathspace = opts.pathspace || undefined;
  // the same rule vtysh.ts applies, checked before the name becomes part of a socket path
  if (pathspace !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(pathspace)) {
    throw new VipError('VIP_E_CONFIG', `bgp.pathspace "${pathspace}" is not a plain name (letters, digits, "_", "-", "."): fix the config`, { path: 'bgp.pathspace' });
  }
  return createVtySpeaker({ pathspace, timeoutMs: opts.timeoutMs, fallback: viaVtysh });
}

/** A speaker whose module loads at its first call (configuration errors then surface there). */
function lazySpeaker(load: () => Promise<DiagnosableSpeaker>): DiagnosableSpeaker {
  let p: Promise<DiagnosableSpeaker> | null = null;
  const get = () => (p ??= load());
  return {
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
