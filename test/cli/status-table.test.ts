// status's table: aligned columns, colours only when asked (a TTY without --no-color), never misaligned by them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stripVTControlCharacters } from 'node:util';
import { formatTable } from '../../src/cli/status.ts';
import type { StatusRow } from '../../src/core/status.ts';

const rows: StatusRow[] = [
  { vip: '192.0.2.1', prefix: '192.0.2.1/32', names: ['www.example.test'], configured: true, announced: true, valid: true, best: true, advertisedTo: 2, routeMap: 'VIP-RANK-0', live: 3, threshold: 1, hold: null, watchdog: 'up' },
  { vip: '2001:db8::1', prefix: '2001:db8::1/128', names: ['www.example.test', 'alias.example.test'], configured: false, announced: false, valid: false, best: false, advertisedTo: 0, routeMap: null, live: 0, threshold: 1, hold: { reason: 'disk swap', by: 'alice', since: '2026-11-27T09:00:00Z' }, watchdog: 'held' },
];

test('plain: one header and one line per VIP, every column starting at the same offset', () => {
  const text = formatTable(rows, false);
  assert.doesNotMatch(text, /\x1b\[/, 'no escape codes without colour');
  const lines = text.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[1]!, /^192\.0\.2\.1\/32 +www\.example\.test +yes +yes \(2 peers\) +VIP-RANK-0 +3\/1 +- +up$/);
  assert.match(lines[2]!, /^2001:db8::1\/128 +www\.example\.test,alias\.example\.test +no +no +- +0\/1 +disk swap \(alice, 2026-11-27T09:00:00Z\) +held$/);
  for (const col of ['NAMES', 'CONFIGURED', 'ANNOUNCED', 'ROUTE-MAP', 'LIVE', 'HOLD', 'WATCHDOG']) {
    const at = lines[0]!.indexOf(col);
    for (const l of lines.slice(1)) assert.notEqual(l[at - 1], undefined), assert.equal(l[at - 2], ' ', `${col} column aligned`);
  }
});

test('colour: the same text once the escape codes are removed; verdicts coloured', () => {
  const coloured = formatTable(rows, true);
  assert.match(coloured, /\x1b\[32m/, 'green for healthy');
  assert.match(coloured, /\x1b\[31m/, 'red for not configured');
  assert.match(coloured, /\x1b\[33m/, 'yellow for a hold');
  assert.equal(stripVTControlCharacters(coloured), formatTable(rows, false));
});
