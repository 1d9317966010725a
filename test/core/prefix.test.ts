// Unit tests: address and prefix normalisation, containment and ordering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable } from '../../src/core/text.ts';
import { seeded } from '../random.ts';
import {
  compareVips,
  insideAny,
  looksLikeAddress,
  normalisePrefix,
  parseAddress,
  toVip,
  vipAddressProblem,
  vipPrefixProblem,
} from '../../src/core/prefix.ts';

test('addresses are canonicalised before any comparison', () => {
  assert.equal(toVip('2001:DB8:0:0::0001').prefix, '2001:db8::1/128');
  assert.equal(toVip('192.0.2.1').prefix, '192.0.2.1/32');
  // issue 9: an IPv4-mapped address is not silently the IPv4 /32; it stays IPv6 and vipAddressProblem refuses it
  assert.equal(toVip('::ffff:192.0.2.9').prefix, '::ffff:c000:209/128', 'IPv4-mapped IPv6 stays IPv6');
  assert.equal(parseAddress('2001:db8::21%lo'), null, 'an address with a zone id is no canonical address');
  assert.equal(parseAddress('192.0.2'), null, 'short IPv4 forms are not addresses');
  assert.equal(parseAddress('0x7f.1'), null);
  assert.equal(parseAddress('service.tld'), null);
});

test('prefixes are normalised with host bits cleared', () => {
  assert.equal(normalisePrefix('192.0.2.7/24'), '192.0.2.0/24');
  assert.equal(normalisePrefix('2001:0db8:0000::/48'), '2001:db8::/48');
  assert.equal(normalisePrefix('192.0.2.1'), '192.0.2.1/32');
  assert.equal(normalisePrefix('192.0.2.0/33'), null);
  assert.equal(normalisePrefix('192.0.2.0/x'), null);
});

test('insideAny respects family and length', () => {
  const p = ['192.0.2.0/24', '2001:db8::/48'];
  assert.ok(insideAny(toVip('192.0.2.200'), p));
  assert.ok(!insideAny(toVip('198.51.100.1'), p));
  assert.ok(insideAny(toVip('2001:db8:0:ffff::1'), p));
  assert.ok(!insideAny(toVip('2001:db8:1::1'), p));
});

test('VIPs sort IPv4 first, numerically', () => {
  const v = ['2001:db8::2', '192.0.2.10', '192.0.2.9', '2001:db8::1'].map(toVip).sort(compareVips);
  assert.deepEqual(v.map((x) => x.address), ['192.0.2.9', '192.0.2.10', '2001:db8::1', '2001:db8::2']);
});

test('vipAddressProblem: which addresses can be a VIP, and why the others cannot', () => {
  const table: [string, RegExp | null][] = [
    // accepted: unicast, documentation ranges included, private and unique-local too
    ['192.0.2.7', null],
    ['198.51.100.1', null],
    ['203.0.113.254', null],
    ['2001:db8::21', null],
    ['2001:DB8:0::21', null],
    ['10.1.2.3', null],
    ['fd00::1', null],
    [' 192.0.2.7 ', null],
    // zone ids
    ['2001:db8::21%lo', /2001:db8::21%lo carries an IPv6 zone id \("%lo"\).*without it/],
    ['fe80::1%eth0', /zone id/],
    ['2001:db8::1%', /zone id \("%"\)/],
    // IPv4-mapped: never the IPv4 address
    ['::ffff:192.0.2.7', /::ffff:192\.0\.2\.7 is an IPv4-mapped IPv6 address: it is not the IPv4 address 192\.0\.2\.7/],
    ['0:0:0:0:0:ffff:c000:207', /IPv4-mapped/],
    // not unicast
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['224.0.0.5', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['127.0.0.1', /loopback/],
    ['::1', /loopback/],
    ['169.254.10.1', /link-local/],
    ['fe80::1', /link-local/],
    // not addresses at all
    ['service.tld', /is not an IP address/],
    ['192.0.2', /is not an IP address/],
    ['0x7f.1', /is not an IP address/],
    ['', /is not an IP address/],
  ];
  for (const [text, want] of table) {
    const got = vipAddressProblem(text);
    if (want === null) assert.equal(got, null, text);
    else assert.match(got ?? '(accepted)', want, text);
  }
});

test('looksLikeAddress: zone ids and mapped forms are addresses (never DNS names); names are not', () => {
  for (const a of ['192.0.2.1', '2001:db8::21%lo', '::ffff:192.0.2.7', 'ff02::1', 'fe80::1%eth0']) assert.ok(looksLikeAddress(a), a);
  for (const n of ['service.tld', '192.0.2', 'a..b', '1', '0x7f.1', '192.0.2.1.example']) assert.ok(!looksLikeAddress(n), n);
});

test('vipPrefixProblem: vip_prefixes entries hold unicast ranges only, written without zone or mapped forms', () => {
  const table: [string, RegExp | null][] = [
    ['192.0.2.0/24', null],
    ['2001:db8::/32', null],
    ['2001:db8::/48', null],
    ['10.0.0.0/8', null],
    ['198.51.100.7/24', null], // host bits are cleared by normalisePrefix, not refused
    ['192.0.2.0', /not a prefix/],
    ['192.0.2.0/33', /not a prefix/],
    ['::ffff:192.0.2.0/120', /IPv4-mapped/],
    ['2001:db8::%lo/48', /zone id/],
    ['0.0.0.0/0', /0\.0\.0\.0\/0 overlaps 0\.0\.0\.0\/8 \(unspecified\)/],
    ['::/0', /overlaps/],
    ['127.0.0.0/8', /loopback/],
    ['127.1.0.0/16', /loopback/],
    ['224.0.0.0/24', /multicast/],
    ['192.0.0.0/2', /multicast/], // reaches into 224.0.0.0/4
    ['fe80::/64', /link-local/],
    ['ff00::/8', /multicast/],
  ];
  for (const [text, want] of table) {
    const got = vipPrefixProblem(text);
    if (want === null) assert.equal(got, null, text);
    else assert.match(got ?? '(accepted)', want, text);
  }
});

test('printable: control and format characters are escaped, long text cut', () => {
  assert.equal(printable('a\x1b[31mred\r\n'), 'a\\x1b[31mred\\x0d\\x0a');
  assert.equal(printable('back\\slash'), 'back\\\\slash');
  assert.equal(printable('bidi\u202Eevil'), 'bidi\\u{202e}evil');
  assert.equal(printable('x'.repeat(300)).length, 203);
  assert.equal(printable('2001:db8::1 ok'), '2001:db8::1 ok');
});

test('the dotted-quad fast path and the memo of parseAddress/normalisePrefix answer as ipaddr.js does', async () => {
  const { default: ipaddr } = await import('ipaddr.js');
  const reference = (t: string): string | null => {
    const b = t.trim();
    if (!b.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(b)) return null;
    return /^[0-9A-Fa-f:.]+$/.test(b) && ipaddr.isValid(b) ? ipaddr.parse(b).toString() : null;
  };
  const octets = ['0', '00', '01', '1', '9', '10', '99', '100', '199', '200', '249', '250', '255', '256', '300', '999', '1000', '-1', ''];
  let n = 0;
  for (let i = 0; i < 4000; i++) {
    const pick = () => octets[(i * 7919 + n++ * 104729) % octets.length]!;
    const t = [pick(), pick(), pick(), pick()].join('.');
    for (const text of [t, ` ${t}`, `${t}.1`]) {
      assert.equal(parseAddress(text)?.address ?? null, reference(text), text);
      assert.equal(parseAddress(text)?.address ?? null, reference(text), `${text} (memo)`);
      const ref = reference(text);
      assert.equal(normalisePrefix(`${text}/32`), ref && !ref.includes(':') ? `${ref}/32` : null, `${text}/32`);
    }
  }
  // a caller that changes the answer it got does not change the next one
  const a = parseAddress('2001:db8::1')!;
  a.address = 'changed';
  assert.equal(parseAddress('2001:db8::1')!.address, '2001:db8::1');
});

test('the IPv6 fast path (hex groups and one "::") gives ipaddr.js own RFC 5952 text and bytes, or leaves the text to ipaddr.js', async () => {
  const { default: ipaddr } = await import('ipaddr.js');
  const { addressBytes } = await import('../../src/core/prefix.ts');
  const reference = (t: string): string | null => (/^[0-9A-Fa-f:.]+$/.test(t) && t.includes(':') && ipaddr.isValid(t) ? ipaddr.parse(t).toString() : null);
  const groups = ['0', '00', '000', '0000', '1', 'a', 'F', 'ffff', 'FFFF', '0db8', '2001', '12345', 'g', ''];
  const rnd = seeded(1);
  for (let i = 0; i < 20_000; i++) {
    const n = 1 + rnd(9);
    const parts = Array.from({ length: n }, () => groups[rnd(groups.length)]!);
    let text = parts.join(':');
    if (rnd(2)) {
      const at = rnd(n + 1);
      text = `${parts.slice(0, at).join(':')}::${parts.slice(at).join(':')}`;
    }
    const want = reference(text);
    const got = parseAddress(text)?.address ?? null;
    assert.equal(got, want, JSON.stringify(text));
    if (want) assert.deepEqual(addressBytes(want), ipaddr.parse(want).toByteArray(), want);
  }
  for (const [text, want] of [['::', '::'], ['::1', '::1'], ['1::', '1::'], ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['0:0:1:0:0:0:1:0', '0:0:1::1:0'], ['::ffff:c000:201', '::ffff:c000:201']]) {
    assert.equal(parseAddress(text!)?.address, want, text);
  }
  // insideAny over bytes agrees with ipaddr.js match
  const nets = ['2001:db8::/48', '192.0.2.0/25', '2001:db8:ffff::/47', '198.51.100.0/22'];
  for (const a of ['2001:db8::1', '2001:db8:0:ffff::1', '2001:db8:1::1', '2001:db8:fffe::1', '2001:db8:ffff:1::', '192.0.2.1', '192.0.2.200', '198.51.101.7', '198.51.104.1']) {
    const want = nets.some((n) => {
      const [net, len] = ipaddr.parseCIDR(n);
      const x = ipaddr.parse(a);
      return x.kind() === net.kind() && x.match(net, len);
    });
    assert.equal(insideAny(toVip(a), nets), want, a);
  }
});
