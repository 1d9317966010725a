// Pure parsers for the two IPVS table formats (/proc/net/ip_vs and `ipvsadm -S -n`) into one model.
//
// Both parsers split lines on whitespace (never column offsets: widths differ between kernels and
// between IPv4 and IPv6 lines) and normalise every address through prefix.ts. Two kinds of trouble:
// - kept but unknown (a protocol, forwarding method, flag or option this code has no name for):
//   the line is understood, kept, and reported in `warnings`;
// - malformed (a line cut in the middle, a wrong column count, bad hex, a weight that is not an
//   integer in range...): the parser cannot read it, so the table as a whole cannot be trusted. It
//   goes to `malformed`, and assertReadable refuses the table: a format this code does not know
//   must never read as "no real servers" (SPEC "Trusting inputs").
// Output order is canonical (see sortTable) so that the kernel's hash order never shows up in diffs or tests.
import { VipError } from './errors.js';
import { addressBytes, parseAddress, v6Text } from './prefix.js';
import { printable } from './text.js';

/** Known kinds; any other protocol is kept lower-cased (e.g. "ip_51") with a warning. */
export type IpvsKind = 'tcp' | 'udp' | 'sctp' | 'fwm' | (string & {});
/** Forwarding method, lower-cased kernel name: -g route, -i tunnel, -m masq; local for the local node. */
export type IpvsForward = 'route' | 'tunnel' | 'masq' | 'local' | (string & {});

export interface IpvsReal {
  address: string; // canonical (prefix.ts)
  port: number; // 0 for firewall-mark services
  forward: IpvsForward;
  weight: number;
  /** Connection counters; 0 when the source has none (`ipvsadm -S` carries no counters). */
  active: number;
  inactive: number;
}

export interface IpvsService {
  kind: IpvsKind;
  /** canonical VIP address; null for firewall-mark services */
  vip: string | null;
  port: number | null; // null for firewall-mark services
  fwmark: number | null; // set for firewall-mark services only
  scheduler: string;
  /** persistence timeout in seconds, null when the service is not persistent */
  persistent: number | null;
  /** service flags as ipvsadm names them, e.g. "ops" (one-packet scheduling) */
  flags: string[];
  reals: IpvsReal[];
}

export interface IpvsTable {
  services: IpvsService[];
  /** understood and kept, with something unknown in it: worth a warning, not a reason to distrust */
  warnings: string[];
  /** lines the parser could not read, each "line N: why: <the line, control characters escaped>";
   *  any entry makes the table unreadable (assertReadable) */
  malformed: string[];
}

/** Throws VIP_E_IPVS_UNREADABLE (exit 1) when TABLE has malformed lines, listing up to three:
 *  the caller changes nothing this cycle. SOURCE names where the table came from. */
export function assertReadable(table: IpvsTable, source: string): void {
  const lines = table.malformed;
  if (lines.length === 0) return;
  const more = lines.length > 3 ? `; and ${lines.length - 3} more` : '';
  throw new VipError(
    'VIP_E_IPVS_UNREADABLE',
    `cannot read IPVS from ${source}: ${lines.length} malformed line${lines.length === 1 ? '' : 's'} (${lines.slice(0, 3).join('; ')}${more}): ` +
      'a read cut short or a format this version does not know; nothing changes until it reads cleanly',
    { source, malformed: lines.slice(0, 3), count: lines.length },
  );
}

/** Int32 as the kernel prints weights and connection counters (%d). */
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** persistence timeouts are unsigned ints */
const UINT32_MAX = 2 ** 32 - 1;

/** "line N: why: <line>" with the line printable. */
const bad = (where: string, why: string, raw: string): string => `${where}: ${why}: ${printable(raw.trim())}`;

export interface ProcOptions {
  /** The kernel's CONFIG_HZ: /proc/net/ip_vs prints the persistence timeout in jiffies.
   *  Default 250, Debian's (and most distributions') x86 kernels. */
  hz?: number;
  /** false: services and reals in the kernel's order (its hash order), not canonical order. The
   *  watchdog counts per VIP and needs no order; sorting a 10,000 x 8 table was ~50 ms of its cycle. */
  sort?: boolean;
}

export const DEFAULT_HZ = 250;

const KNOWN_KINDS = new Set(['tcp', 'udp', 'sctp', 'fwm']);
const KNOWN_FORWARDS = new Set(['route', 'tunnel', 'masq', 'local']);
const KNOWN_FLAGS = new Set(['ops']);

// ---- /proc/net/ip_vs ----------------------------------------------------------------------

/**
 * Parse /proc/net/ip_vs as the kernel prints it (net/netfilter/ipvs/ip_vs_ctl.c):
 *   TCP  C000020A:0050 rr                          (IPv4: hex address and port)
 *   UDP  C000020A:0035 rr ops
 *   TCP  [2001:0db8:0000:...:0010]:0050 wrr        (IPv6: fully expanded, bracketed)
 *   TCP  C0000214:01BB sh  persistent 75000 FFFFFFFF   (timeout in jiffies, netmask)
 *   FWM  00000007 sh
 *     -> C6336401:0050      Route   1      0          0   (forward weight active inactive)
 */
export function parseProcIpVs(text: string, opts: ProcOptions = {}): IpvsTable {
  const hz = opts.hz ?? DEFAULT_HZ;
  const canon = memo(procAddress);
  const services: IpvsService[] = [];
  const warnings: string[] = [];
  const malformed: string[] = [];
  let current: ProcService | null = null;

  // The kernel ends every line with "\n": text that does not was cut in the middle of a line (a
  // short read), and that last piece may look like a shorter valid line ("rr" cut from "rr ops").
  // Lines are walked in place (no array of 90,000 strings for a big table).
  // the open run of common real server lines of `current`: TEXT[runFrom, start)
  let runFrom = 0;
  let runLines = 0;
  let runPositive = 0;
  for (let start = 0, i = 0; start < text.length; i++) {
    if (current) {
      // the common real server line, checked whole by a regex (native code from the first line
      // on) and kept as text: 80,000 of them are not made into objects, nor read a character at a
      // time by JavaScript that has not been optimised yet
      POSITIVE_REAL.lastIndex = start;
      OTHER_REAL.lastIndex = start;
      const positive = POSITIVE_REAL.test(text);
      if (positive || OTHER_REAL.test(text)) {
        if (runLines === 0) runFrom = start;
        runLines++;
        if (positive) runPositive++;
        start = positive ? POSITIVE_REAL.lastIndex : OTHER_REAL.lastIndex;
        continue;
      }
      if (runLines > 0) {
        current.run(runFrom, start, runLines, runPositive);
        runLines = runPositive = 0;
      }
    }
    // the common service line: the same, read by a regex too
    const common = commonService(text, start, canon, hz);
    if (common !== null) {
      current = new ProcService(common, text, canon);
      services.push(current);
      start = SERVICE_LINE.lastIndex;
      continue;
    }
    const nl = text.indexOf('\n', start);
    const lineStart = start;
    start = nl < 0 ? text.length : nl + 1;
    if (nl < 0) {
      malformed.push(bad(`line ${i + 1}`, 'cut short (no newline at the end of the text)', text.slice(lineStart)));
      break;
    }
    if (current) {
      const real = scanRealLine(text, lineStart, nl, canon);
      if (real) {
        current.add(real);
        continue;
      }
    }
    const raw = text.slice(lineStart, nl);
    const t = words(raw);
    if (t.length === 0) continue;
    const where = `line ${i + 1}`;
    // The three header lines.
    if (t[0] === 'IP' && t[1] === 'Virtual') continue;
    if (t[0] === 'Prot' && t[1] === 'LocalAddress:Port') continue;
    if (t[0] === '->' && t[1] === 'RemoteAddress:Port') continue;

    if (t[0] === '->') {
      if (!current) {
        // Attributing it to nothing is safer than to the wrong service, and the table is not whole.
        malformed.push(bad(where, 'real server before any virtual service', raw));
        continue;
      }
      const real = procReal(t, where, raw, warnings, malformed, canon);
      if (real) current.add(real);
      continue;
    }

    const head = procService(t, where, raw, hz, warnings, malformed, canon);
    current = head ? new ProcService(head, text, canon) : null;
    if (current) services.push(current);
  }
  if (current && runLines > 0) current.run(runFrom, text.length, runLines, runPositive);

  return opts.sort === false ? { services, warnings, malformed } : sortTable({ services, warnings, malformed });
}

/**
 * The common real server line as the kernel prints it, and nothing that scanRealLine would read
 * differently: "  -> C0000201:0050      Route   1      0          0" (IPv4 %08X or the bracketed
 * fully expanded IPv6 of expandedV6ToCanonical, a known forwarding method, numbers of at most nine
 * digits, which are int32 whatever they are), ended by its newline. Two of them, so that one test
 * also tells whether the weight is positive. Anything else (ten digits, a leading zero, "\r", an
 * unknown method...) goes through scanRealLine or words + procReal, which read it or report it.
 */
const REAL_HEAD = '[ \\t]*->[ \\t]+(?:[0-9A-Fa-f]{8}|\\[[0-9A-Fa-f]{4}(?::[0-9A-Fa-f]{4}){7}\\]):[0-9A-Fa-f]{4}[ \\t]+(?:Route|Masq|Tunnel|Local)[ \\t]+';
const REAL_TAIL = '[ \\t]+-?\\d{1,9}[ \\t]+-?\\d{1,9}[ \\t]*\\n';
export const POSITIVE_REAL = new RegExp(`${REAL_HEAD}[1-9]\\d{0,8}${REAL_TAIL}`, 'y');
export const OTHER_REAL = new RegExp(`${REAL_HEAD}(?:0|-\\d{1,9})${REAL_TAIL}`, 'y');

/**
 * The common service line as the kernel prints it, and nothing procService would read differently:
 * "TCP  C000020A:0050 rr " (TCP, UDP or SCTP, IPv4 %08X or the bracketed fully expanded IPv6) or
 * "FWM  00000007 rr ", a scheduler name, then "ops" and "persistent <jiffies> <netmask>" when
 * set, ended by its newline.
 */
const SERVICE_LINE =
  /[ \t]*(?:(TCP|UDP|SCTP)[ \t]+([0-9A-Fa-f]{8}|\[[0-9A-Fa-f]{4}(?::[0-9A-Fa-f]{4}){7}\]):([0-9A-Fa-f]{4})|FWM[ \t]+([0-9A-Fa-f]{1,8}))[ \t]+([A-Za-z0-9_-]+)(?:[ \t]+(ops))?(?:[ \t]+persistent[ \t]+(\d{1,9})[ \t]+[0-9A-Fa-f]{8})?[ \t]*\n/y;
const KIND_OF: Record<string, IpvsKind> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** The service of a common service line at TEXT[start...], with SERVICE_LINE.lastIndex after its
 *  newline; null when the line is not one (procService reads it, or reports it). */
function commonService(text: string, start: number, canon: ProcCanon, hz: number): ServiceHead | null {
  SERVICE_LINE.lastIndex = start;
  const m = SERVICE_LINE.exec(text);
  if (m === null) return null;
  let persistent: number | null = null;
  if (m[7] !== undefined) {
    const jiffies = Number(m[7]);
    if (jiffies % hz !== 0) return null; // procService says so in a warning
    persistent = jiffies / hz;
  }
  const flags = m[6] === undefined ? [] : ['ops'];
  const scheduler = m[5]!;
  if (m[4] !== undefined) return { kind: 'fwm', vip: null, port: null, fwmark: parseInt(m[4], 16), scheduler, persistent, flags };
  const vip = canon(m[2]!);
  if (vip === null) return null;
  return { kind: KIND_OF[m[1]!]!, vip, port: parseInt(m[3]!, 16), fwmark: null, scheduler, persistent, flags };
}

/** A service line through commonService and through words + procService: for tests. */
export function readServiceLineBothWays(line: string): { common: ServiceHead | null; general: ServiceHead | null; warnings: string[]; malformed: string[] } {
  const canon = memo(procAddress);
  const warnings: string[] = [];
  const malformed: string[] = [];
  const common = commonService(`${line}\n`, 0, canon, DEFAULT_HZ);
  const general = procService(words(line), 'line 1', line, DEFAULT_HZ, warnings, malformed, canon);
  return { common, general, warnings, malformed };
}

/** One run of common real server lines of a service: TEXT[start, end), `lines` of them,
 *  `positive` of those with a positive weight. */
interface CommonRun {
  start: number;
  end: number;
  lines: number;
  positive: number;
}

/**
 * A virtual service of a /proc table. Its real servers are runs of common lines kept as text
 * (POSITIVE_REAL, OTHER_REAL) and, rarely, objects from the general path, in the kernel's order.
 * `reals` makes the runs into objects on its first read (sortTable, status, tests);
 * positiveWeights counts them without (the watchdog).
 */
class ProcService implements IpvsService {
  kind: IpvsKind;
  vip: string | null;
  port: number | null;
  fwmark: number | null;
  scheduler: string;
  persistent: number | null;
  flags: string[];
  readonly #text: string;
  readonly #canon: ProcCanon;
  readonly #parts: (CommonRun | IpvsReal)[] = [];
  #reals: IpvsReal[] | null = null;

  constructor(head: ServiceHead, text: string, canon: ProcCanon) {
    ({ kind: this.kind, vip: this.vip, port: this.port, fwmark: this.fwmark, scheduler: this.scheduler, persistent: this.persistent, flags: this.flags } = head);
    this.#text = text;
    this.#canon = canon;
  }

  /** LINES common lines, TEXT[from, to) (newlines included), POSITIVE of them with a positive weight. */
  run(from: number, to: number, lines: number, positive: number): void {
    this.#parts.push({ start: from, end: to, lines, positive });
    this.#reals = null;
  }

  add(real: IpvsReal): void {
    this.#parts.push(real);
    this.#reals = null;
  }

  get reals(): IpvsReal[] {
    if (this.#reals !== null) return this.#reals;
    const out: IpvsReal[] = [];
    for (const part of this.#parts) {
      if (!('end' in part)) {
        out.push(part);
        continue;
      }
      for (let s = part.start; s < part.end; ) {
        const nl = this.#text.indexOf('\n', s);
        const real = scanRealLine(this.#text, s, nl, this.#canon);
        // POSITIVE_REAL and OTHER_REAL accept only lines scanRealLine reads (test/core/ipvs.test.ts)
        if (real === null) throw new Error(`internal error: a common IPVS line did not read: ${printable(this.#text.slice(s, nl))}`);
        out.push(real);
        s = nl + 1;
      }
    }
    return (this.#reals = out);
  }

  positiveWeights(): number {
    let n = 0;
    for (const part of this.#parts) n += 'end' in part ? part.positive : part.weight > 0 ? 1 : 0;
    return n;
  }

  /** JSON has what a plain service has: `reals` is not an own property. */
  toJSON(): IpvsService {
    const { kind, vip, port, fwmark, scheduler, persistent, flags, reals } = this;
    return { kind, vip, port, fwmark, scheduler, persistent, flags, reals };
  }
}

type ServiceHead = Omit<IpvsService, 'reals'>;

/** How many of S's real servers have a weight above 0; a /proc table's common lines are counted
 *  as they were checked, not made into objects. */
export function positiveWeights(s: IpvsService): number {
  if (s instanceof ProcService) return s.positiveWeights();
  let n = 0;
  for (const r of s.reals) if (r.weight > 0) n++;
  return n;
}

/** The words of a line: `line.trim().split(/\s+/)` without the empty ones, by a loop over ASCII
 *  (a big table has 90,000 lines); a line with any non-ASCII character takes the regex, whose \s
 *  also splits on Unicode spaces. */
export function words(line: string): string[] {
  const out: string[] = [];
  let from = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c > 127) return line.trim().split(/\s+/).filter(Boolean);
    const space = c === 32 || (c >= 9 && c <= 13);
    if (space) {
      if (from >= 0) out.push(line.slice(from, i));
      from = -1;
    } else if (from < 0) from = i;
  }
  if (from >= 0) out.push(line.slice(from));
  return out;
}

function procService(
  t: string[],
  where: string,
  raw: string,
  hz: number,
  warnings: string[],
  malformed: string[],
  canon: ProcCanon,
): ServiceHead | null {
  const proto = t[0]!;
  const kind = proto.toLowerCase();
  let rest: string[];
  let vip: string | null = null;
  let port: number | null = null;
  let fwmark: number | null = null;

  if (!/^[A-Za-z]/.test(proto)) {
    malformed.push(bad(where, 'not an IPVS service line', raw));
    return null;
  }
  if (kind === 'fwm') {
    fwmark = hexNumber(t[1], 8);
    if (fwmark === null) {
      malformed.push(bad(where, `bad firewall mark "${printable(t[1] ?? '')}"`, raw));
      return null;
    }
    rest = t.slice(2);
  } else {
    const ap = procAddrPort(t[1], canon);
    if (!ap) {
      malformed.push(bad(where, 'not an IPVS service line', raw));
      return null;
    }
    ({ address: vip, port } = ap);
    rest = t.slice(2);
  }

  const scheduler = rest[0];
  if (scheduler === undefined) {
    malformed.push(bad(where, 'no scheduler', raw));
    return null;
  }
  const flags: string[] = [];
  let persistent: number | null = null;
  for (let j = 1; j < rest.length; j++) {
    const tok = rest[j]!;
    if (tok === 'persistent') {
      // "persistent <timeout in jiffies> <netmask, %08X>", always both
      const jiffies = decimal(rest[j + 1], UINT32_MAX);
      if (jiffies === null || hexNumber(rest[j + 2], 8) === null || rest[j + 2]!.length !== 8) {
        malformed.push(bad(where, 'bad persistence (expected "persistent <jiffies> <netmask>")', raw));
        return null;
      }
      persistent = Math.round(jiffies / hz);
      if (jiffies % hz !== 0) warnings.push(`${where}: persistence ${jiffies} jiffies is not a whole number of seconds at HZ=${hz}`);
      j += 2;
      continue;
    }
    flags.push(tok);
    if (!KNOWN_FLAGS.has(tok)) warnings.push(`${where}: unknown service flag "${printable(tok)}"`);
  }
  if (!KNOWN_KINDS.has(kind)) warnings.push(`${where}: unknown protocol "${printable(proto)}" kept as "${printable(kind)}"`);
  return { kind, vip, port, fwmark, scheduler, persistent, flags };
}

const hexVal = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);
const FORWARD_NAMES: [string, IpvsForward][] = [['Route', 'route'], ['Masq', 'masq'], ['Tunnel', 'tunnel'], ['Local', 'local']]; // by first letter: R M T L

/**
 * procReal for the common line, read in place from TEXT[FROM, TO) without cutting it into words:
 * "  -> C0000201:0050      Route   1      0          0" (IPv4 %08X, or bracketed fully expanded
 * IPv6), spaces or tabs between the six columns, a known forwarding method, three int32 decimals.
 * A big table has 90,000 such lines, and their words were most of the parse and its garbage.
 * Anything else gives null and goes through procReal, which reads it or reports it: the same
 * result either way (test/core/ipvs.test.ts compares the two on generated lines).
 */
export function scanRealLine(text: string, from: number, to: number, canon: ProcCanon): IpvsReal | null {
  let i = skipBlanks(text, from, to);
  if (text.charCodeAt(i) !== 45 || text.charCodeAt(i + 1) !== 62) return null; // "->"
  let j = skipBlanks(text, i + 2, to);
  if (j === i + 2) return null;
  i = j;
  const addrEnd = text.charCodeAt(i) === 91 ? i + 41 : i + 8; // "[" + 39 + "]", or 8 hex digits
  if (addrEnd + 5 > to || text.charCodeAt(addrEnd) !== 58) return null;
  const address = canon(text.slice(i, addrEnd));
  if (address === null) return null;
  let port = 0;
  for (let k = addrEnd + 1; k < addrEnd + 5; k++) {
    const h = hexVal(text.charCodeAt(k));
    if (h < 0) return null;
    port = port * 16 + h;
  }
  i = addrEnd + 5;
  j = skipBlanks(text, i, to);
  if (j === i) return null;
  i = j;
  const c0 = text.charCodeAt(i);
  const f = c0 === 82 ? 0 : c0 === 77 ? 1 : c0 === 84 ? 2 : c0 === 76 ? 3 : -1; // R M T L
  if (f < 0) return null;
  const [name, forward] = FORWARD_NAMES[f]!;
  if (!text.startsWith(name, i)) return null;
  i += name.length;
  if (i !== to && text.charCodeAt(i) !== 32 && text.charCodeAt(i) !== 9) return null;
  // three int32 decimals, each after blanks: NUMS[0..2], i moves past each
  for (let n = 0; n < 3; n++) {
    j = skipBlanks(text, i, to);
    if (j === i) return null;
    i = j;
    const neg = text.charCodeAt(i) === 45;
    if (neg) i++;
    const start = i;
    let v = 0;
    while (i < to) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    if (i === start || i - start > 10) return null;
    v = neg ? -v : v;
    if (v < INT32_MIN || v > INT32_MAX) return null;
    NUMS[n] = v;
  }
  if (skipBlanks(text, i, to) !== to) return null;
  return { address, port, forward, weight: NUMS[0]!, active: NUMS[1]!, inactive: NUMS[2]! };
}

/** scanRealLine's three numbers, reused (no array per line). */
const NUMS = [0, 0, 0];

/** The index of the first character from I on that is not a space or a tab (at most TO). */
function skipBlanks(text: string, i: number, to: number): number {
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) break;
    i++;
  }
  return i;
}

/** The same line through the general path (words + procReal): for tests of scanRealLine. */
export function readRealLineSlowly(line: string): IpvsReal | null {
  const warnings: string[] = [];
  const malformed: string[] = [];
  const t = words(line);
  return t[0] === '->' ? procReal(t, 'line 1', line, warnings, malformed, memo(procAddress)) : null;
}

/** A memo of the /proc address reader, for scanRealLine's callers. */
export const procCanon = (): ProcCanon => memo(procAddress);

/** "  -> ADDR:PORT Forward Weight ActiveConn InActConn": exactly six columns. */
function procReal(t: string[], where: string, raw: string, warnings: string[], malformed: string[], canon: ProcCanon): IpvsReal | null {
  if (t.length !== 6) {
    malformed.push(bad(where, `a real server line has 6 columns, this one ${t.length}`, raw));
    return null;
  }
  const ap = procAddrPort(t[1], canon);
  const weight = signedDecimal(t[3], INT32_MIN, INT32_MAX);
  const active = signedDecimal(t[4], INT32_MIN, INT32_MAX);
  const inactive = signedDecimal(t[5], INT32_MIN, INT32_MAX);
  let why: string | null = null;
  if (!ap) why = `bad address "${printable(t[1]!)}"`;
  else if (!/^[A-Za-z]/.test(t[2]!)) why = `bad forwarding method "${printable(t[2]!)}"`;
  else if (weight === null) why = `weight "${printable(t[3]!)}" is not an integer from ${INT32_MIN} to ${INT32_MAX}`;
  else if (active === null || inactive === null) why = 'connection counters are not integers in range';
  if (why !== null || !ap || weight === null || active === null || inactive === null) {
    malformed.push(bad(where, why ?? 'not a real server line', raw));
    return null;
  }
  return { address: ap.address, port: ap.port, forward: forward(t[2]!, where, warnings), weight, active, inactive };
}

/** "C0000201:0050" or "[2001:0db8:...:0001]:0050" -> canonical address and port. */
function procAddrPort(tok: string | undefined, canon: ProcCanon): { address: string; port: number } | null {
  if (!tok) return null;
  const colon = tok.lastIndexOf(':');
  if (colon < 0) return null;
  const port = hexNumber(tok.slice(colon + 1), 4);
  if (port === null) return null;
  const address = canon(tok.slice(0, colon));
  return address === null ? null : { address, port };
}

/** The kernel's address text, "%08X" IPv4 or "[%pI6]" fully expanded IPv6, in prefix.ts's canonical
 *  form; null when it is neither. */
function procAddress(a: string): string | null {
  if (a.startsWith('[') && a.endsWith(']')) {
    const inner = a.slice(1, -1);
    const fast = expandedV6ToCanonical(inner);
    if (fast !== null) return fast;
    const p = parseAddress(inner);
    return p && p.family === 6 ? p.address : null;
  }
  const n = hexNumber(a, 8);
  if (n === null || a.length !== 8) return null;
  // Dotted decimal without leading zeros is already the canonical form of prefix.ts.
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

// ---- ipvsadm -S -n ------------------------------------------------------------------------

/** Options of `ipvsadm -A/-a` that take a value, long and short spellings. */
const WITH_VALUE = new Map<string, string>([
  ['-s', 'scheduler'], ['--scheduler', 'scheduler'],
  ['-M', 'netmask'], ['--netmask', 'netmask'],
  ['-b', 'sched-flags'], ['--sched-flags', 'sched-flags'],
  ['--pe', 'pe'],
  ['-r', 'real-server'], ['--real-server', 'real-server'],
  ['-w', 'weight'], ['--weight', 'weight'],
  ['-x', 'u-threshold'], ['--u-threshold', 'u-threshold'],
  ['-y', 'l-threshold'], ['--l-threshold', 'l-threshold'],
  ['--tun-type', 'tun-type'],
  ['--tun-port', 'tun-port'],
]);
const SWITCHES = new Map<string, string>([
  ['-g', 'route'], ['--gatewaying', 'route'],
  ['-i', 'tunnel'], ['--ipip', 'tunnel'],
  ['-m', 'masq'], ['--masquerading', 'masq'],
  ['-o', 'ops'], ['--ops', 'ops'],
  ['-6', 'ipv6'], ['--ipv6', 'ipv6'],
  ['--tun-nocsum', 'tun-nocsum'], ['--tun-csum', 'tun-csum'], ['--tun-remcsum', 'tun-remcsum'],
]);
const SERVICE_KINDS = new Map<string, IpvsKind>([
  ['-t', 'tcp'], ['--tcp-service', 'tcp'],
  ['-u', 'udp'], ['--udp-service', 'udp'],
  ['--sctp-service', 'sctp'],
  ['-f', 'fwm'], ['--fwmark-service', 'fwm'],
]);

/**
 * Parse `ipvsadm -S -n` (the rules format ipvsadm-restore reads):
 *   -A -t 192.0.2.10:80 -s rr
 *   -A -u 192.0.2.10:53 -s rr -o
 *   -A -t 192.0.2.20:443 -s sh -p 300
 *   -A -f 8 -6 -s rr
 *   -a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1
 *   -a -t [2001:db8::10]:80 -r 198.51.100.9:80 -i -w 1 --tun-type ipip
 * Without -n, ipvsadm prints host and service names: those lines are reported, not guessed at.
 */
export function parseIpvsadmSave(text: string): IpvsTable {
  const warnings: string[] = [];
  const malformed: string[] = [];
  const canon = memo(parseAddress);
  const byKey = new Map<string, IpvsService>();

  text.split('\n').forEach((raw, i) => {
    const where = `line ${i + 1}`;
    const t = raw.trim().split(/\s+/).filter(Boolean);
    if (t.length === 0 || t[0]!.startsWith('#')) return;
    const cmd = t[0];
    const isService = cmd === '-A' || cmd === '--add-service';
    const isReal = cmd === '-a' || cmd === '--add-server';
    if (!isService && !isReal) {
      malformed.push(bad(where, 'not an ipvsadm -A/-a rule', raw));
      return;
    }

    const o = saveOptions(t.slice(1), where, raw, warnings, malformed);
    if (!o) return;
    const id = saveServiceId(o, where, raw, malformed, canon);
    if (!id) return;
    const key = `${id.kind} ${id.vip ?? ''} ${id.port ?? ''} ${id.fwmark ?? ''}`;

    let svc = byKey.get(key);
    if (isService) {
      if (svc) warnings.push(`${where}: service ${describe(id)} defined twice; the later one wins`);
      const persistentText = o.values.get('persistent');
      const persistent = persistentText === undefined ? null : decimal(persistentText, UINT32_MAX);
      if (persistentText !== undefined && persistent === null) {
        malformed.push(bad(where, `persistence "${printable(persistentText)}" is not a number of seconds in range`, raw));
        return;
      }
      svc = {
        ...id,
        scheduler: o.values.get('scheduler') ?? 'wlc', // ipvsadm's default scheduler
        persistent,
        flags: o.switches.includes('ops') ? ['ops'] : [],
        reals: svc?.reals ?? [],
      };
      byKey.set(key, svc);
      return;
    }

    if (!svc) {
      warnings.push(`${where}: real server for ${describe(id)}, which has no -A line; service assumed`);
      svc = { ...id, scheduler: 'unknown', persistent: null, flags: [], reals: [] };
      byKey.set(key, svc);
    }
    const realText = o.values.get('real-server');
    const real = realText === undefined ? null : saveAddrPort(realText, true, canon);
    if (!real) {
      malformed.push(bad(where, `bad or missing -r real server "${printable(realText ?? '')}"`, raw));
      return;
    }
    const methods = o.switches.filter((s) => s === 'route' || s === 'tunnel' || s === 'masq');
    if (methods.length > 1) warnings.push(`${where}: several forwarding methods (${methods.join(', ')}); the last one wins`);
    const weightText = o.values.get('weight');
    const weight = weightText === undefined ? 1 : signedDecimal(weightText, INT32_MIN, INT32_MAX); // ipvsadm's default weight is 1
    if (weight === null) {
      malformed.push(bad(where, `bad weight "${printable(weightText!)}" (an integer from ${INT32_MIN} to ${INT32_MAX})`, raw));
      return;
    }
    svc.reals.push({
      address: real.address,
      port: real.port ?? 0,
      forward: methods.at(-1) ?? 'route', // ipvsadm's default is -g
      weight,
      active: 0,
      inactive: 0,
    });
  });

  return sortTable({ services: [...byKey.values()], warnings, malformed });
}

interface SaveOptions {
  kind: IpvsKind | null;
  service: string | null; // the argument of -t/-u/--sctp-service/-f
  values: Map<string, string>;
  switches: string[];
}

function saveOptions(args: string[], where: string, raw: string, warnings: string[], malformed: string[]): SaveOptions | null {
  const o: SaveOptions = { kind: null, service: null, values: new Map(), switches: [] };
  for (let j = 0; j < args.length; j++) {
    const a = args[j]!;
    const kind = SERVICE_KINDS.get(a);
    if (kind) {
      o.kind = kind;
      o.service = args[++j] ?? null;
      continue;
    }
    if (a === '-p' || a === '--persistent') {
      // The timeout is optional on input (default 300 s); -S always prints it.
      const next = args[j + 1];
      if (next !== undefined && /^\d+$/.test(next)) {
        o.values.set('persistent', next);
        j++;
      } else {
        o.values.set('persistent', '300');
      }
      continue;
    }
    const name = WITH_VALUE.get(a);
    if (name) {
      const v = args[++j];
      if (v === undefined) {
        malformed.push(bad(where, `${a} without a value`, raw));
        return null;
      }
      o.values.set(name, v);
      continue;
    }
    const sw = SWITCHES.get(a);
    if (sw) {
      o.switches.push(sw);
      continue;
    }
    // Unknown: skip the token alone; a value following it is then reported too, never taken as an option.
    warnings.push(`${where}: unknown ipvsadm option "${printable(a)}" ignored`);
  }
  return o;
}

type ServiceId = Pick<IpvsService, 'kind' | 'vip' | 'port' | 'fwmark'>;

function saveServiceId(o: SaveOptions, where: string, raw: string, malformed: string[], canon: Canon): ServiceId | null {
  if (!o.kind || o.service === null) {
    malformed.push(bad(where, 'no -t/-u/--sctp-service/-f service', raw));
    return null;
  }
  if (o.kind === 'fwm') {
    const mark = /^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(o.service) ? Number(o.service) : null;
    if (mark === null || mark > 0xffffffff) {
      malformed.push(bad(where, `bad firewall mark "${printable(o.service)}"`, raw));
      return null;
    }
    return { kind: 'fwm', vip: null, port: null, fwmark: mark };
  }
  const ap = saveAddrPort(o.service, false, canon);
  if (!ap || ap.port === null) {
    malformed.push(bad(where, `bad service address "${printable(o.service)}" (names need ipvsadm -S -n)`, raw));
    return null;
  }
  return { kind: o.kind, vip: ap.address, port: ap.port, fwmark: null };
}

/** "192.0.2.1:80", "[2001:db8::1]:80"; a bare address when the port may be omitted (-r of a fwmark service). */
function saveAddrPort(text: string, portOptional: boolean, canon: Canon): { address: string; port: number | null } | null {
  let host = text;
  let portText: string | null = null;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (br) {
    host = br[1]!;
    portText = br[2] ?? null;
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, portText] = text.split(':') as [string, string];
  }
  const a = canon(host);
  if (!a) return null;
  if (portText === null) return portOptional ? { address: a.address, port: null } : null;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return null;
  return { address: a.address, port: Number(portText) };
}

// ---- shared -------------------------------------------------------------------------------

type Canon = (text: string) => ReturnType<typeof parseAddress>;
type ProcCanon = (token: string) => string | null;

/** F remembered for one parse: a big table names the same real servers thousands of times. */
function memo<T>(f: (text: string) => T): (text: string) => T {
  const seen = new Map<string, T>();
  return (text) => {
    let v = seen.get(text);
    if (v === undefined) {
      v = f(text);
      seen.set(text, v);
    }
    return v;
  };
}

/** Canonical order: address services by VIP (IPv4 first), port, kind; firewall marks last;
 *  real servers by address and port. Returns a new table. */
export function sortTable(table: IpvsTable): IpvsTable {
  // Every distinct address gets its sort key once and then a rank, so that the sorts (90,000 reals
  // in a big table) compare numbers: ranks are in key order, so the order is the keys' order.
  const addrs = new Set<string>();
  for (const s of table.services) {
    if (s.vip !== null) addrs.add(s.vip);
    for (const r of s.reals) addrs.add(r.address);
  }
  const keyed = [...addrs].map((address): [string, string] => {
    const b = addressBytes(address);
    return [`${b.length === 4 ? 4 : 6}${b.map((x) => x.toString(16).padStart(2, '0')).join('')}`, address];
  });
  keyed.sort((a, b) => cmp(a[0], b[0]));
  const rank = new Map<string, number>(keyed.map(([, address], i) => [address, i]));
  const services = table.services.map((s) => ({
    ...s,
    reals: [...s.reals].sort((a, b) => rank.get(a.address)! - rank.get(b.address)! || a.port - b.port),
  }));
  services.sort((a, b) => {
    if ((a.vip === null) !== (b.vip === null)) return a.vip === null ? 1 : -1;
    if (a.vip !== null && b.vip !== null) {
      const c = rank.get(a.vip)! - rank.get(b.vip)!;
      if (c) return c;
    }
    return (a.port ?? 0) - (b.port ?? 0) || (a.fwmark ?? 0) - (b.fwmark ?? 0) || cmp(a.kind, b.kind);
  });
  return { services, warnings: [...table.warnings], malformed: [...table.malformed] };
}

/** "tcp 192.0.2.1:80", "tcp [2001:db8::1]:80", "fwm 7": how logs and warnings name a service. */
export function describe(s: Pick<IpvsService, 'kind' | 'vip' | 'port' | 'fwmark'>): string {
  if (s.vip === null) return `${s.kind} ${s.fwmark ?? '?'}`;
  return s.vip.includes(':') ? `${s.kind} [${s.vip}]:${s.port}` : `${s.kind} ${s.vip}:${s.port}`;
}

function forward(name: string, where: string, warnings: string[]): IpvsForward {
  const f = name.toLowerCase();
  if (!KNOWN_FORWARDS.has(f)) warnings.push(`${where}: unknown forwarding method "${printable(name)}" kept as "${printable(f)}"`);
  return f;
}

/**
 * The kernel prints IPv6 fully expanded ("2001:0db8:0000:...:0010"): compress it to the RFC 5952
 * form prefix.ts uses ("2001:db8::10") without a general-purpose parse, which was a quarter of a
 * 10,000-service table's parse. IPv4-mapped addresses stay IPv6 here as in prefix.ts
 * ("::ffff:c000:201"). Anything else returns null and takes the general path.
 */
export function expandedV6ToCanonical(text: string): string | null {
  if (text.length !== 39 || !/^[0-9a-fA-F]{4}(?::[0-9a-fA-F]{4}){7}$/.test(text)) return null;
  return v6Text(text.split(':').map((g) => parseInt(g, 16)));
}

function hexNumber(text: string | undefined, maxDigits: number): number | null {
  if (!text || text.length > maxDigits || !/^[0-9A-Fa-f]+$/.test(text)) return null;
  return parseInt(text, 16);
}

/** A non-negative decimal up to MAX; null otherwise (a 400-digit number is not Infinity). */
function decimal(text: string | undefined, max: number): number | null {
  return signedDecimal(text, 0, max);
}

/** Weights and counters are signed in the kernel's printf (%d); a negative weight is nonsense but
 *  must not vanish. Null unless an integer from MIN to MAX. */
function signedDecimal(text: string | undefined, min: number, max: number): number | null {
  if (text === undefined || text.length > 12 || !/^-?\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
