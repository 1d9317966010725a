// Pure FRR/Quagga text handling: running-config and BGP table parsers, the apply command list, vtysh message classes.
//
// Everything here takes text vtysh printed (captures in test/fixtures/frr/) and returns data, so the
// vtysh adapter stays a thin runner. Prefixes always go through normalisePrefix before they are
// compared or used as keys.
import { normalisePrefix } from './prefix.js';
import type { BgpNetwork, PrefixState, RunningBgp, SpeakerChange } from './types.js';

export type Dialect = 'frr' | 'quagga';

// ---- running configuration ------------------------------------------------------------------

/** Dotted-quad netmask to prefix length; null when the mask is not contiguous. */
function maskLength(mask: string): number | null {
  const parts = mask.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  const bits = parts.map((p) => p.toString(2).padStart(8, '0')).join('');
  if (!/^1*0*$/.test(bits)) return null;
  const zero = bits.indexOf('0');
  return zero === -1 ? 32 : zero;
}

/** Classful length of an IPv4 address, for Quagga's `bgp config-type cisco` output (`network 10.0.0.0`). */
function classfulLength(addr: string): number {
  const first = Number(addr.split('.')[0]);
  return first < 128 ? 8 : first < 192 ? 16 : 24;
}

/** `router bgp 64512`, also asdot `router bgp 1.10`; null for anything else, out-of-range numbers
 *  included: FRR never prints them, and a 20-digit "ASN" must not reach buildApplyCommands. */
function parseAsn(text: string): number | null {
  const m = /^(?:(\d{1,5})\.)?(\d{1,10})$/.exec(text);
  if (!m) return null;
  const n = m[1] === undefined ? Number(m[2]) : Number(m[2]) <= 0xffff ? Number(m[1]) * 65536 + Number(m[2]) : -1;
  return n >= 1 && n <= 4294967295 ? n : null;
}

/** The prefix and route-map of a `network ...` line's words (after "network"); null when unusable. */
function parseNetworkWords(words: string[], family: 4 | 6): BgpNetwork | null {
  let raw = words[0];
  // only address characters go on to the address parser, whose failure path is slow (~25 us a word)
  if (!raw || !/^[0-9A-Fa-f:.]+(\/\d{1,3})?$/.test(raw)) return null;
  let rest = words.slice(1);
  if (family === 4 && !raw.includes('/')) {
    // Quagga in `bgp config-type cisco` prints `network A.B.C.D mask M` or a classful `network A.B.C.D`.
    if (rest[0] === 'mask' && rest[1]) {
      const len = maskLength(rest[1]);
      if (len === null) return null;
      raw = `${raw}/${len}`;
      rest = rest.slice(2);
    } else raw = `${raw}/${classfulLength(raw)}`;
  }
  const prefix = normalisePrefix(raw);
  if (!prefix || prefix.includes(':') !== (family === 6)) return null;
  const i = rest.indexOf('route-map');
  return { prefix, routeMap: i >= 0 && rest[i + 1] ? rest[i + 1]! : null };
}

/**
 * Parse `show running-config` (FRR 8.x, also Quagga 1.x) into the default BGP instance's network
 * statements and the route-map names. `router bgp N vrf X` / `view X` instances are ignored: vip-mgmt
 * only drives the default instance. Networks count in `address-family ipv4 unicast`,
 * `address-family ipv6 unicast` (Quagga: `address-family ipv6`) and directly under `router bgp`
 * (Quagga and pre-FRR configs put IPv4 unicast there); other address families are ignored.
 */
export function parseRunningConfig(text: string): RunningBgp {
  let asn: number | null = null;
  const networks: BgpNetwork[] = [];
  const seenNet = new Set<string>();
  const routeMaps: string[] = [];
  const seenMap = new Set<string>();

  // inside the default instance's `router bgp` block (indented lines belong to it)
  let inBgp = false;
  // inside the default instance: the address family of network lines (null = one we ignore)
  let family: 4 | 6 | null = 4;

  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/\s+$/, '');
    if (line === '') continue;
    const indented = /^\s/.test(line);
    const words = line.trim().split(/\s+/);

    if (!indented) {
      // "!" is a separator, not an end: Quagga prints "!" at column 0 before each
      // " address-family" of the same `router bgp`. Any other top-level line closes the block.
      if (words[0] === '!') continue;
      inBgp = false;
      if (words[0] === 'router' && words[1] === 'bgp') {
        const n = words[2] ? parseAsn(words[2]) : null;
        // `router bgp N vrf X` and Quagga's `router bgp N view X` are not the default instance; a
        // config file may open the default one twice.
        if (n !== null && words.length === 3 && (asn === null || asn === n)) {
          asn = n;
          inBgp = true;
          family = 4;
        }
      } else if (words[0] === 'route-map' && words[1] && /^(permit|deny)$/.test(words[2] ?? '')) {
        if (!seenMap.has(words[1])) {
          seenMap.add(words[1]);
          routeMaps.push(words[1]);
        }
      }
      continue;
    }
    if (!inBgp) continue;

    if (words[0] === 'address-family') {
      const afi = words[1];
      const safi = words[2] ?? 'unicast';
      family = safi === 'unicast' ? (afi === 'ipv4' ? 4 : afi === 'ipv6' ? 6 : null) : null;
      // `address-family ipv4 vrf X` (Quagga) is not the default table either
      if (words.includes('vrf')) family = null;
      continue;
    }
    if (words[0] === 'exit-address-family') {
      family = 4;
      continue;
    }
    if (words[0] === 'network' && family !== null) {
      const net = parseNetworkWords(words.slice(1), family);
      if (net && !seenNet.has(net.prefix)) {
        seenNet.add(net.prefix);
        networks.push(net);
      }
    }
  }
  return { asn, networks, routeMaps, text };
}

/** Split the output of the probe command that precedes `show running-config` in one vtysh call. */
export function splitProbeAndRunning(text: string): { probe: string; running: string } {
  const m = /^(Building configuration\.\.\.|Current configuration:)/m.exec(text);
  if (!m) return { probe: text, running: '' };
  return { probe: text.slice(0, m.index), running: text.slice(m.index) };
}

// ---- apply ------------------------------------------------------------------------------------

const familyOf = (prefix: string): 4 | 6 => (prefix.includes(':') ? 6 : 4);

function networkCommand(c: SpeakerChange): string {
  const p = normalisePrefix(c.prefix);
  if (!p) throw new TypeError(`not a prefix: ${c.prefix}`);
  const rm = c.routeMap ? ` route-map ${c.routeMap}` : '';
  // A withdraw names no route-map: `no network P route-map R` fails with "% route-map name doesn't
  // match static route" when someone changed the route-map since we read it, and a drain must not
  // fail over that; `no network P` removes the statement whatever its route-map.
  return c.action === 'add' ? `network ${p}${rm}` : `no network ${p}`;
}

/**
 * The vtysh commands (one `-c` each) that apply every change to `router bgp ASN`, in input order
 * within each address family. FRR: both families in `address-family ... unicast` blocks. Quagga 1.x:
 * IPv4 directly under `router bgp` (its IPv4 unicast node), IPv6 in `address-family ipv6`.
 * An empty change list gives an empty command list.
 */
export function buildApplyCommands(dialect: Dialect, asn: number, changes: SpeakerChange[]): string[] {
  if (!Number.isInteger(asn) || asn < 1 || asn > 4294967295) throw new RangeError(`not an AS number: ${asn}`);
  for (const c of changes) {
    if (c.routeMap !== null && !/^[A-Za-z0-9_.:-]+$/.test(c.routeMap)) {
      // a name with spaces or newlines would become a different command
      throw new TypeError(`route-map name not usable on the vtysh command line: ${JSON.stringify(c.routeMap)}`);
    }
  }
  if (changes.length === 0) return [];
  const v4 = changes.filter((c) => familyOf(c.prefix) === 4).map(networkCommand);
  const v6 = changes.filter((c) => familyOf(c.prefix) === 6).map(networkCommand);
  const out = ['configure terminal', `router bgp ${asn}`];
  if (dialect === 'quagga') {
    out.push(...v4);
    if (v6.length) out.push('address-family ipv6', ...v6, 'exit-address-family');
  } else {
    if (v4.length) out.push('address-family ipv4 unicast', ...v4, 'exit-address-family');
    if (v6.length) out.push('address-family ipv6 unicast', ...v6, 'exit-address-family');
  }
  out.push('end');
  return out;
}

// ---- BGP table lookup ---------------------------------------------------------------------------

/** The show command that prints one prefix's BGP table entry (exact match: the length is given). */
export function lookupCommand(dialect: Dialect, prefix: string): string {
  const p = normalisePrefix(prefix);
  if (!p) throw new TypeError(`not a prefix: ${prefix}`);
  if (dialect === 'quagga') return familyOf(p) === 4 ? `show ip bgp ${p}` : `show bgp ipv6 ${p}`;
  return `show bgp ${familyOf(p) === 4 ? 'ipv4' : 'ipv6'} unicast ${p} json`;
}

const absent = (prefix: string): PrefixState => ({ prefix, inTable: false, valid: false, best: false, advertisedTo: 0 });

/**
 * Split text holding several JSON values one after another (what one vtysh call with several
 * `show ... json` commands prints) into the parsed values. Throws on anything that is not JSON.
 */
export function splitJsonValues(text: string): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i]!)) i++;
    if (i >= n) break;
    const start = i;
    if (text[i] !== '{' && text[i] !== '[') {
      const end = text.indexOf('\n', i);
      throw new SyntaxError(`expected JSON from vtysh, got: ${text.slice(i, end < 0 ? n : end)}`);
    }
    let depth = 0;
    let inString = false;
    for (; i < n; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      }
    }
    if (depth !== 0) throw new SyntaxError('truncated JSON from vtysh');
    out.push(JSON.parse(text.slice(start, i)));
  }
  return out;
}

interface DetailPath {
  valid?: boolean;
  /** bgpd marked the path for removal (a `no network` it has taken); its work queue sends the
   *  withdraw after its hold (50 ms in FRR's lib/workqueue.h) */
  removed?: boolean;
  sourced?: boolean;
  bestpath?: { overall?: boolean };
}

/**
 * One `show bgp <afi> unicast P json` answer (FRR 8.x detail form) as the state of OUR announcement:
 * the path sourced by a `network` statement. A path learned from a peer does not count: once this DC
 * withdraws, the same prefix stays in the table through the router from the other DCs, and that must
 * not read as "still announced". A path bgpd already marked `removed` counts as gone: the withdraw is
 * decided and queued, so a `-d` need not wait out the work queue's hold to verify. advertisedTo counts the peers in `advertisedTo` while our path is the
 * best one (FRR advertises only the best path); 0 otherwise. Returns null for `{}` (not in the table).
 */
export function prefixStateFromJson(doc: unknown): PrefixState | null {
  if (!doc || typeof doc !== 'object') return null;
  const d = doc as { prefix?: unknown; paths?: unknown; advertisedTo?: unknown };
  if (typeof d.prefix !== 'string') return null;
  const prefix = normalisePrefix(d.prefix);
  if (!prefix) return null;
  const paths = Array.isArray(d.paths) ? (d.paths as DetailPath[]) : [];
  const ours = paths.find((p) => p && p.sourced === true && p.removed !== true);
  if (!ours) return absent(prefix);
  const best = ours.bestpath?.overall === true;
  const peers = d.advertisedTo && typeof d.advertisedTo === 'object' ? Object.keys(d.advertisedTo).length : 0;
  return { prefix, inTable: true, valid: ours.valid === true, best, advertisedTo: best ? peers : 0 };
}

/**
 * Parse the output of one vtysh call that ran lookupCommand('frr', p) for each of `prefixes`, in
 * order. Every asked prefix gets an entry, keyed by its normalised form; `{}` and FRR's
 * `{"warning":"Default BGP instance not found"}` mean not in the table.
 */
export function parseLookupJson(text: string, prefixes: string[], opts: { skipLeading?: number } = {}): Map<string, PrefixState> {
  return lookupStates(splitJsonValues(text).slice(opts.skipLeading ?? 0), prefixes);
}

/** parseLookupJson's rule on answers already parsed, one per prefix asked, in order (bgpd's vty
 *  socket delivers each answer on its own: no need to find where one ends in the joined text). */
export function lookupStates(docs: unknown[], prefixes: string[]): Map<string, PrefixState> {
  if (docs.length !== prefixes.length) {
    throw new SyntaxError(`vtysh printed ${docs.length} JSON answers for ${prefixes.length} lookups`);
  }
  const out = new Map<string, PrefixState>();
  prefixes.forEach((asked, i) => {
    const p = normalisePrefix(asked);
    if (!p) throw new TypeError(`not a prefix: ${asked}`);
    const st = prefixStateFromJson(docs[i]);
    if (st && st.prefix !== p) throw new SyntaxError(`lookup of ${p} answered for ${st.prefix}`);
    out.set(p, st ?? absent(p));
  });
  return out;
}

/**
 * Parse text-form `show ip bgp P` / `show bgp ipv6 P` answers (Quagga has no JSON; FRR prints the
 * same layout): blocks start with "BGP routing table entry for P"; "% Network not in table" or no
 * block means absent. Same rules as prefixStateFromJson: only the `sourced` path is ours; peers are
 * the words on the line after "Advertised to non peer-group peers:".
 */
export function parseLookupText(text: string, prefixes: string[]): Map<string, PrefixState> {
  const found = new Map<string, PrefixState>();
  const blocks = text.split(/^(?=BGP routing table entry for )/m);
  for (const block of blocks) {
    const head = /^BGP routing table entry for (\S+?),?(\s|$)/.exec(block);
    if (!head) continue;
    const prefix = normalisePrefix(head[1]!);
    if (!prefix) continue;
    const lines = block.split(/\r?\n/);
    const adv = lines.findIndex((l) => /Advertised to non peer-group peers:/.test(l));
    const peers = adv >= 0 ? (lines[adv + 1] ?? '').trim().split(/\s+/).filter(Boolean).length : 0;
    let state = absent(prefix);
    for (const l of lines) {
      const m = /^\s+Origin\s+(.*)$/.exec(l);
      if (!m) continue;
      const attrs = m[1]!.split(/,\s*/).map((a) => a.trim());
      if (!attrs.includes('sourced')) continue;
      const best = attrs.some((a) => a === 'best' || a.startsWith('best ('));
      state = { prefix, inTable: true, valid: attrs.includes('valid'), best, advertisedTo: best ? peers : 0 };
      break;
    }
    found.set(prefix, state);
  }
  const out = new Map<string, PrefixState>();
  for (const asked of prefixes) {
    const p = normalisePrefix(asked);
    if (!p) throw new TypeError(`not a prefix: ${asked}`);
    out.set(p, found.get(p) ?? absent(p));
  }
  return out;
}

// ---- vtysh messages ---------------------------------------------------------------------------------

export type VtyshFailure =
  | { kind: 'no-daemons'; message: string } // "Exiting: failed to connect to any daemons."
  | { kind: 'daemon-down'; daemon: string; message: string } // "bgpd is not running"
  | { kind: 'locked'; message: string }
  | { kind: 'permission'; message: string }
  | { kind: 'rejected'; message: string };

/** vtysh -N prints this on every call when /etc/frr/<pathspace>/vtysh.conf is absent: noise, not an error. */
const NOISE = /^% Can't open configuration file \/etc\/(frr|quagga)\/.*vtysh\.conf due to .*$/;

/** vtysh's output without its harmless warnings, trimmed. */
export function cleanVtyshOutput(text: string): string {
  return text
    .split(/\r?\n/)
    .filter((l) => !NOISE.test(l.trim()))
    .join('\n')
    .trim();
}

/**
 * What a failed vtysh run (non-zero exit) means, from its combined output. The texts are FRR 8.4's
 * (test/fixtures/frr/errors/) and, for the lock, Quagga's and FRR's northbound ones:
 *   "Exiting: failed to connect to any daemons."      no daemon socket answers (all down, wrong -N)
 *   "bgpd is not running"                              zebra answers, bgpd does not
 *   "VTY configuration is locked by other VTY"         Quagga / FRR < 5: another vty is in configure mode
 *   "% Configuration is locked by other client"        FRR: `configure exclusive` held elsewhere
 *   "running configuration is locked by another client" / "resource is locked": FRR northbound commit
 * Anything else is a command vtysh or a daemon rejected.
 */
export function classifyVtyshFailure(output: string): VtyshFailure {
  const text = cleanVtyshOutput(output);
  if (/locked by (other|another) (VTY|client)|resource is locked|configuration is locked/i.test(text)) {
    return { kind: 'locked', message: firstLines(text.split('\n').filter((l) => /lock/i.test(l)).join('\n')) };
  }
  const down = /^(\w+) is not running$/m.exec(text);
  if (down) return { kind: 'daemon-down', daemon: down[1]!, message: down[0] };
  // the daemon died while vtysh was talking to it
  const died = /closing connection to (\w+) because of an I\/O error/.exec(text);
  if (died) return { kind: 'daemon-down', daemon: died[1]!, message: died[0] };
  if (/failed to connect to any daemons/i.test(text)) {
    if (/privileged user/i.test(text)) return { kind: 'permission', message: firstLines(text) };
    return { kind: 'no-daemons', message: firstLines(text) };
  }
  if (/permission denied/i.test(text)) return { kind: 'permission', message: firstLines(text) };
  return { kind: 'rejected', message: firstLines(text) || '(vtysh printed nothing)' };
}

function firstLines(text: string, n = 8): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.length > n ? [...lines.slice(0, n), `... (${lines.length - n} more lines)`].join('\n') : lines.join('\n');
}
