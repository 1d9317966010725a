// Unit tests: address and prefix normalisation, containment and ordering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVips, insideAny, normalisePrefix, parseAddress, toVip } from '../../src/core/prefix.ts';

test('addresses are canonicalised before any comparison', () => {
  assert.equal(toVip('2001:DB8:0:0::0001').prefix, '2001:db8::1/128');
  assert.equal(toVip('192.0.2.1').prefix, '192.0.2.1/32');
  assert.equal(toVip('::ffff:192.0.2.9').prefix, '192.0.2.9/32', 'IPv4-mapped IPv6 is the IPv4 VIP');
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
