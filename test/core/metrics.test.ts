// The node_exporter textfile of a watchdog cycle: one sample per VIP, failures visible, valid text format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMetrics } from '../../src/core/metrics.ts';
import type { CycleRow } from '../../src/core/cycle.ts';
import { toVip } from '../../src/core/prefix.ts';

const item = (address: string, names: string[], live: number | null, state: 'up' | 'down' | 'held' | 'unknown'): CycleRow => ({
  vip: toVip(address),
  names,
  action: 'none',
  why: '',
  live,
  state,
  routeMap: state === 'up' ? 'VIP-RANK-0' : null,
});

test('per-VIP announced, live and held; cycle time, duration, errors, exit code', () => {
  const text = formatMetrics({
    rows: [item('192.0.2.1', ['a.example', 'b.example'], 2, 'up'), item('2001:db8::1', ['a.example'], 0, 'held')],
    announced: new Set(['192.0.2.1/32']),
    holds: new Set(['2001:db8::1/128']),
    finishedAt: new Date('2026-11-27T10:00:00Z'),
    durationMs: 1234,
    exitCode: 0,
    errors: 0,
  });
  const lines = text.trimEnd().split('\n');
  assert.ok(lines.includes('vip_mgmt_vip_announced{vip="192.0.2.1",prefix="192.0.2.1/32",names="a.example,b.example"} 1'));
  assert.ok(lines.includes('vip_mgmt_vip_announced{vip="2001:db8::1",prefix="2001:db8::1/128",names="a.example"} 0'));
  assert.ok(lines.includes('vip_mgmt_vip_live_realservers{vip="192.0.2.1",prefix="192.0.2.1/32",names="a.example,b.example"} 2'));
  assert.ok(lines.includes('vip_mgmt_vip_held{vip="2001:db8::1",prefix="2001:db8::1/128",names="a.example"} 1'));
  assert.ok(lines.includes('vip_mgmt_watchdog_last_run_timestamp_seconds 1795773600'));
  assert.ok(lines.includes('vip_mgmt_watchdog_duration_seconds 1.234'));
  assert.ok(lines.includes('vip_mgmt_watchdog_exit_code 0'));
  // text format: every sample line is NAME{labels} VALUE, and each metric has HELP and TYPE once
  for (const l of lines) assert.match(l, /^(# (HELP|TYPE) vip_mgmt_\w+ .+|vip_mgmt_\w+(\{[^}]*\})? (-?\d+(\.\d+)?|NaN))$/, l);
  const types = lines.filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2]);
  assert.equal(new Set(types).size, types.length);
});

test('an unreadable table leaves live out (not 0); a failed cycle still reports its exit code and error', () => {
  const text = formatMetrics({
    rows: [item('192.0.2.1', ['a.example'], null, 'unknown')],
    announced: null,
    holds: new Set(),
    finishedAt: new Date(0),
    durationMs: 5,
    exitCode: 6,
    errors: 1,
  });
  assert.doesNotMatch(text, /^vip_mgmt_vip_live_realservers\{/m);
  assert.doesNotMatch(text, /^vip_mgmt_vip_announced\{/m, 'unknown when the speaker could not be read');
  assert.match(text, /^vip_mgmt_watchdog_exit_code 6$/m);
  assert.match(text, /^vip_mgmt_watchdog_errors 1$/m);
});

test('label values are escaped', () => {
  const text = formatMetrics({ rows: [item('192.0.2.1', ['we"ird\\name'], 1, 'up')], announced: new Set(), holds: new Set(), finishedAt: new Date(0), durationMs: 0, exitCode: 0, errors: 0 });
  assert.match(text, /names="we\\"ird\\\\name"/);
});
