// The one failure type of vip-mgmt: a stable code, the SPEC exit code, and a message that says what to do next.

export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  CONFIG: 3,
  DNS: 4,
  POLICY: 5,
  SPEAKER: 6,
  PARTIAL: 7,
  FLEET: 8,
  DIFF: 10,
  LOCKED: 75,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Every stable error code and the exit code it maps to (SPEC.md "Exit codes"). */
export const CODES = {
  VIP_E_FAILED: EXIT.FAILED,
  VIP_E_APPLY: EXIT.FAILED,
  VIP_E_VERIFY: EXIT.FAILED,
  VIP_E_STATE_CORRUPT: EXIT.FAILED,
  VIP_E_STATE_IO: EXIT.FAILED,
  VIP_E_STATE_UNSAFE: EXIT.FAILED,
  VIP_E_LOCK_LOST: EXIT.FAILED,
  VIP_E_IPVS_IMPLAUSIBLE: EXIT.FAILED,
  VIP_E_IPVS_UNREADABLE: EXIT.FAILED,
  VIP_E_TEMPLATE: EXIT.FAILED,
  VIP_E_USAGE: EXIT.USAGE,
  VIP_E_BAD_ADDRESS: EXIT.USAGE,
  VIP_E_CONFIG: EXIT.CONFIG,
  VIP_E_CONFIG_ASN: EXIT.CONFIG,
  VIP_E_DNS_NXDOMAIN: EXIT.DNS,
  VIP_E_DNS_SERVFAIL: EXIT.DNS,
  VIP_E_DNS_REFUSED: EXIT.DNS,
  VIP_E_DNS_TIMEOUT: EXIT.DNS,
  VIP_E_DNS_CNAME_LOOP: EXIT.DNS,
  VIP_E_DNS_CNAME_DEPTH: EXIT.DNS,
  VIP_E_DNS_NO_ADDRESS: EXIT.DNS,
  VIP_E_DNS_BAD_ANSWER: EXIT.DNS,
  VIP_E_DNS_NO_SERVER: EXIT.DNS,
  VIP_E_POLICY_PREFIX: EXIT.POLICY,
  VIP_E_POLICY_ROUTEMAP: EXIT.POLICY,
  VIP_E_POLICY_DC: EXIT.POLICY,
  VIP_E_POLICY_CONFLICT: EXIT.POLICY,
  VIP_E_SPEAKER_MISSING: EXIT.SPEAKER,
  VIP_E_SPEAKER_DOWN: EXIT.SPEAKER,
  VIP_E_SPEAKER_LOCKED: EXIT.SPEAKER,
  VIP_E_SPEAKER_NO_BGP: EXIT.SPEAKER,
  VIP_E_POLICY_LAST_DC: EXIT.POLICY,
  VIP_E_POLICY_FLEET_HOLD: EXIT.POLICY,
  VIP_E_PARTIAL: EXIT.PARTIAL,
  VIP_E_FLEET_UNAVAILABLE: EXIT.FLEET,
  VIP_E_FLEET_TIMEOUT: EXIT.FLEET,
  VIP_E_FLEET_NO_QUORUM: EXIT.FLEET,
  VIP_E_FLEET_TLS: EXIT.FLEET,
  VIP_E_FLEET_AUTH: EXIT.FLEET,
  VIP_E_FLEET_NOT_CONFIGURED: EXIT.USAGE,
  VIP_E_FLEET_BAD_RECORD: EXIT.FLEET,
  VIP_E_DIFF: EXIT.DIFF,
  VIP_E_LOCKED: EXIT.LOCKED,
  VIP_E_DAEMON_RUNNING: EXIT.LOCKED,
} as const;

export type ErrorCode = keyof typeof CODES;

export class VipError extends Error {
  readonly code: ErrorCode;
  readonly exit: number;
  /** Extra machine-readable context (command, stderr tail, vip, path...). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'VipError';
    this.code = code;
    this.exit = CODES[code];
    this.details = details;
  }
}

export function isVipError(e: unknown): e is VipError {
  return e instanceof VipError;
}

/** The exit code of a run that collected several errors: one kind keeps its code, a mix of
 *  successes and failures is PARTIAL. */
export function exitFor(errors: VipError[], anySuccess: boolean): number {
  if (errors.length === 0) return EXIT.OK;
  if (anySuccess) return EXIT.PARTIAL;
  const exits = new Set(errors.map((e) => e.exit));
  return exits.size === 1 ? errors[0]!.exit : EXIT.FAILED;
}
