// PLACEHOLDER until the gobgp adapter lands (next commit on this branch): every call fails with exit 6.
import { VipError } from '../core/errors.js';
import type { DaemonSpeakerOptions } from './speaker.js';
import type { DiagnosableSpeaker } from './vtysh.js';

export function createGobgpSpeaker(_opts: DaemonSpeakerOptions<unknown>): DiagnosableSpeaker {
  const notYet = async (): Promise<never> => {
    throw new VipError('VIP_E_SPEAKER_UNAVAILABLE', 'gobgp speaker not built yet');
  };
  return { stateless: true, readRunning: notYet, apply: notYet, lookup: notYet, snapshot: notYet, neighbors: notYet };
}
