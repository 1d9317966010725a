// PLACEHOLDER (issue 13, BIRD 2 part not built yet): bgp.speaker: bird reaches this file through adapters/speaker.ts; every call fails with exit 6 until the BIRD adapter replaces it.
//
// For whoever builds it (SPEC "Speakers", DESIGN "More labs (v2)"): this module must export
// createBirdSpeaker(opts: DaemonSpeakerOptions<{ birdc, socket, include }>) returning a
// DiagnosableSpeaker; it alone runs birdc (argv arrays, a timeout, classified failures), writes the
// include file atomically, runs `birdc configure` and verifies with `birdc show route ... all`.
// The lab side: test/lab/speakers/README.md says how to add `bird` to the conformance suite.
import { VipError } from '../core/errors.js';
import type { DaemonSpeakerOptions } from './speaker.js';
import type { DiagnosableSpeaker } from './vtysh.js';

export function createBirdSpeaker(_opts: DaemonSpeakerOptions<{ birdc: string; socket: string; include: string }>): DiagnosableSpeaker {
  const notYet = async (): Promise<never> => {
    throw new VipError('VIP_E_SPEAKER_UNAVAILABLE', 'bird speaker not built yet: bgp.speaker: bird is accepted by the config but this vip-mgmt cannot drive BIRD; use frr, quagga, exabgp or gobgp');
  };
  return { readRunning: notYet, apply: notYet, lookup: notYet, snapshot: notYet, neighbors: notYet };
}
