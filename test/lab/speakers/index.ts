// The speakers the conformance suite (test/lab/speakers.test.ts) runs against, frr first.
import type { LbDaemonFactory } from '../frr.ts';

export interface SpeakerKindUnderTest {
  kind: string;
  /** the LB daemon; undefined = FRR (the lab's own bgpd) */
  factory?: LbDaemonFactory;
  /** keeps no configuration: a restart loses every route, the next watchdog cycle re-announces them */
  stateless: boolean;
}

export const SPEAKERS: SpeakerKindUnderTest[] = [
  // FRR: the lab's own zebra + bgpd in a pathspace (test/lab/frr.ts); it keeps its running config
  { kind: 'frr', stateless: false },
];
