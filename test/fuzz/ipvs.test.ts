// Fuzz: both IPVS table parsers (/proc/net/ip_vs and `ipvsadm -S -n`), the reader's malformed-table
// refusal and the live count the watchdog takes from a table, on mutants of the real captures in
// test/fixtures/ipvs and on token soup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertReadable, parseIpvsadmSave, parseProcIpVs, sortTable, type IpvsTable } from '../../src/core/ipvs.ts';
import { VipError } from '../../src/core/errors.ts';
import { escapeLogText } from '../../src/adapters/log.ts';
import { ipvsVips, liveCounts } from '../../src/core/live.ts';
import { parseAddress } from '../../src/core/prefix.ts';
import { fuzz, mutated, report, tokenLines } from './lib.ts';

// what a log line may not carry once escaped (src/adapters/log.ts)
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const FIXTURES = new URL('../fixtures/ipvs/', import.meta.url).pathname;
const CAPTURES = ['mixed', 'traffic', 'keepalived', 'empty'];
const seeds = (ext: 'proc' | 'save'): string[] => CAPTURES.map((n) => readFileSync(join(FIXTURES, `${n}.${ext}`), 'utf8')).filter((s) => s !== '');

const PROC_TOKENS = [
  'IP Virtual Server version 1.2.1 (size=4096)', 'Prot LocalAddress:Port Scheduler Flags', '-> RemoteAddress:Port Forward Weight ActiveConn InActConn',
  'TCP', 'UDP', 'SCTP', 'FWM', 'tcp', 'AH', '->', 'Route', 'Masq', 'Tunnel', 'Local', 'Bypass', 'rr', 'wrr', 'sh', 'ops', 'persistent', '1', '0', '-1', '00', '-0', '999999999', '2147483647', '2147483648', '75000',
  'C000020A:0050', 'C6336401:0050', '00000007', 'FFFFFFFF', 'FFFFFF00', '0000', ':', '[', ']',
  '[2001:0db8:0000:0000:0000:0000:0000:0010]:0050', '[0000:0000:0000:0000:0000:ffff:c000:020a]:0050', '[::1]:0050', '[2001:0db8::1]:0050', '[]:0050',
];
const SAVE_TOKENS = [
  '-A', '-a', '--add-service', '--add-server', '-t', '-u', '-f', '--sctp-service', '--tcp-service', '--fwmark-service', '-r', '--real-server',
  '-s', '-w', '--weight', '-p', '--persistent', '-M', '-g', '-i', '-m', '-o', '-6', '-x', '-y', '--tun-type', 'ipip', '--pe', 'sip', '-b', 'sh-port',
  '192.0.2.10:80', '198.51.100.1:80', '[2001:db8::10]:80', '[2001:db8::10]', '2001:db8::10:80', '[::ffff:192.0.2.1]:80', '192.0.2.10:99999',
  '192.0.2.10', 'www.example.com:http', '0x10', '7', 'rr', 'wlc', '#',
];

/** What the reader adapter and the watchdog do with a table: refuse a malformed one (VipError, with
 *  the bad lines quoted: they must stay one clean log line), else take the VIPs and live counts. */
function consume(t: IpvsTable): string {
  try {
    assertReadable(t, '/proc/net/ip_vs');
  } catch (e) {
    if (e instanceof VipError) assert.doesNotMatch(escapeLogText(e.message), UNSAFE);
    throw e;
  }
  for (const s of t.services) {
    if (s.vip !== null) assert.equal(parseAddress(s.vip)?.address, s.vip, 'service VIPs come out canonical');
    for (const r of s.reals) assert.equal(parseAddress(r.address)?.address, r.address, 'real server addresses come out canonical');
  }
  const vips = ipvsVips(t);
  liveCounts(t, vips, { fwmarks: { 7: ['192.0.2.10'] }, exclude: [{ address: '198.51.100.2', port: null }] });
  if (t.services.length === 0) return t.warnings.length ? 'no services, warnings' : 'no services';
  return t.warnings.length ? 'services, warnings' : 'services, clean';
}

const input = (seedTexts: string[], tokens: string[]) =>
  fc.oneof(
    { weight: 6, arbitrary: mutated(seedTexts, tokens) },
    { weight: 3, arbitrary: tokenLines(tokens, { indent: true }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );

/** The watchdog's read of a /proc table (kernel order, common lines kept as text and counted in
 *  place) against the sorted one (every real server an object): the same services, real servers,
 *  VIPs and live counts, with and without excluded real servers. */
function sameInKernelOrder(text: string, sorted: IpvsTable): void {
  const kernel = parseProcIpVs(text, { sort: false });
  assert.deepEqual([kernel.malformed, kernel.warnings], [sorted.malformed, sorted.warnings]);
  assert.deepEqual(JSON.parse(JSON.stringify(sortTable(kernel))), JSON.parse(JSON.stringify(sorted)));
  const vips = ipvsVips(sorted);
  for (const exclude of [[], [{ address: '198.51.100.1', port: null }]]) {
    const opts = { fwmarks: { 7: ['192.0.2.10'] }, exclude };
    assert.deepEqual(liveCounts(kernel, vips, opts), liveCounts(sorted, vips, opts));
  }
}

test('fuzz: parseProcIpVs on mutated captures and token soup', async (t) => {
  const r = fuzz(input(seeds('proc'), PROC_TOKENS), (text) => {
    const sorted = parseProcIpVs(text);
    sameInKernelOrder(text, sorted);
    return consume(sorted);
  });
  await report(t, 'parseProcIpVs', r);
});

test('fuzz: parseIpvsadmSave on mutated captures and token soup', async (t) => {
  const r = fuzz(input(seeds('save'), SAVE_TOKENS), (text) => consume(parseIpvsadmSave(text)));
  await report(t, 'parseIpvsadmSave', r);
});
