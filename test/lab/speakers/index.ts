// The speakers the conformance suite (test/lab/speakers.test.ts) runs against, frr first; VIP_SPEAKERS=bird,exabgp narrows a run.
import type { LbDaemonFactory } from '../frr.ts';
import { birdFactory } from './bird.ts';
import { exabgpFactory } from './exabgp.ts';
import { gobgpFactory } from './gobgp.ts';

export interface SpeakerKindUnderTest {
  kind: string;
  /** the LB daemon; undefined = FRR (the lab's own bgpd) */
  factory?: LbDaemonFactory;
  /** keeps no configuration: a restart loses every route, the next watchdog cycle re-announces them */
  stateless: boolean;
}

const ALL: SpeakerKindUnderTest[] = [
  // FRR: the lab's own zebra + bgpd in a pathspace (test/lab/frr.ts); it keeps its running config
  { kind: 'frr', stateless: false },
  // BIRD keeps its configuration (the include file vip-mgmt writes): a restart brings its routes back by itself
  { kind: 'bird', factory: birdFactory, stateless: false },
  { kind: 'exabgp', factory: exabgpFactory, stateless: true },
  { kind: 'gobgp', factory: gobgpFactory, stateless: true },
];

const only = process.env.VIP_SPEAKERS?.split(',').map((s) => s.trim()).filter(Boolean);
export const SPEAKERS = only?.length ? ALL.filter((s) => only.includes(s.kind)) : ALL;
