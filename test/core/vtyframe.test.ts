// Unit tests: FRR's vty socket framing (core/vtyframe.ts), replies cut anywhere across chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyDecoder, VtyProtocolError, encodeCommand, statusText } from '../../src/core/vtyframe.ts';

const reply = (text: string, status: number) => Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0, 0, 0, status])]);

test('a command goes out NUL-terminated; a NUL or a line break in it is refused, not sent', () => {
  assert.deepEqual([...encodeCommand('show running-config')], [...Buffer.from('show running-config\0')]);
  assert.deepEqual([...encodeCommand('')], [0]);
  for (const bad of ['network 192.0.2.1/32\nno router bgp 1', 'a\0b', 'a\rb']) assert.throws(() => encodeCommand(bad), TypeError);
});

test('replies: text then 3 NULs and the status byte, several in one chunk, empty text, status kept', () => {
  const d = new ReplyDecoder();
  const got = d.push(Buffer.concat([reply('', 0), reply('% Unknown command: x\n', 2), reply('{}\n', 0), reply('% Can\'t find static route specified\n', 13)]));
  assert.deepEqual(got, [
    { text: '', status: 0 },
    { text: '% Unknown command: x\n', status: 2 },
    { text: '{}\n', status: 0 },
    { text: "% Can't find static route specified\n", status: 13 },
  ]);
  assert.equal(d.pending, 0);
  assert.equal(statusText(13), 'configuration failed (13)');
  assert.equal(statusText(99), 'unknown status (99)');
});

test('every way of cutting a stream into chunks gives the same replies (terminators and UTF-8 split too)', () => {
  const stream = Buffer.concat([reply('hostname par1\n!\n', 0), reply('é ü → 日本\n', 1), reply('', 0), reply('x'.repeat(5000), 0)]);
  const want = new ReplyDecoder().push(stream);
  assert.equal(want.length, 4);
  assert.equal(want[1]!.text, 'é ü → 日本\n');
  for (let cut1 = 1; cut1 < stream.length; cut1 += 7) {
    for (const cut2 of [cut1 + 1, cut1 + 3, cut1 + 4000]) {
      const d = new ReplyDecoder();
      const got = [...d.push(stream.subarray(0, cut1)), ...d.push(stream.subarray(cut1, cut2)), ...d.push(stream.subarray(cut2))];
      assert.deepEqual(got, want, `cut at ${cut1}, ${cut2}`);
    }
  }
  // one byte at a time: nothing before the status byte of each reply
  const d = new ReplyDecoder();
  const seen: number[] = [];
  stream.forEach((b, i) => {
    if (d.push(Buffer.from([b])).length > 0) seen.push(i);
  });
  assert.equal(seen.length, 4);
  assert.equal(seen.at(-1), stream.length - 1);
});

test('a reply not complete yet waits; a lone NUL inside text is a protocol error, not a guess', () => {
  const d = new ReplyDecoder();
  assert.deepEqual(d.push(Buffer.from('partial output\0\0')), []);
  assert.equal(d.pending, 16);
  assert.deepEqual(d.push(Buffer.from([0, 0])), [{ text: 'partial output', status: 0 }]);
  assert.throws(() => new ReplyDecoder().push(Buffer.from('abc\0def\0\0\0\0')), VtyProtocolError);
});
