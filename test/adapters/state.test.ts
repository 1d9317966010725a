// State store on a real filesystem: atomic writes, corrupt files reported, and the run lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStateStore } from '../../src/adapters/state.ts';
import { emptyState, setHolds } from '../../src/core/state.ts';
import { VipError } from '../../src/core/errors.ts';

const tmp = () => mkdtemp(join(tmpdir(), 'vip-state-'));

test('a missing state file reads as empty; writes round-trip and leave no temp files', async () => {
  const dir = await tmp();
  const store = createStateStore(join(dir, 'sub'));
  assert.deepEqual(await store.read(), emptyState());
  const s = setHolds(emptyState(), ['192.0.2.1/32'], { reason: 'r', by: 'me', since: '2026-01-01T00:00:00.000Z', names: ['a.tld'] });
  await store.write(s);
  assert.deepEqual(await store.read(), s);
  assert.deepEqual(await readdir(join(dir, 'sub')), ['state.json']);
});

test('a corrupt state file is reported, never reset', async () => {
  const dir = await tmp();
  await writeFile(join(dir, 'state.json'), '{"version":1,"holds":{"192.0.2.1/32"');
  const store = createStateStore(dir);
  await assert.rejects(store.read(), (e: VipError) => e.code === 'VIP_E_STATE_CORRUPT' && /not reset silently/.test(e.message));
  assert.equal(await readFile(join(dir, 'state.json'), 'utf8'), '{"version":1,"holds":{"192.0.2.1/32"', 'file untouched');
  await writeFile(join(dir, 'state.json'), '{"version":2}');
  await assert.rejects(store.read(), (e: VipError) => e.code === 'VIP_E_STATE_CORRUPT');
});

test('a second lock holder gets VIP_E_LOCKED (exit 75) until the first releases', async () => {
  const dir = await tmp();
  const a = createStateStore(dir);
  const b = createStateStore(dir);
  const release = await a.lock();
  await assert.rejects(b.lock(), (e: VipError) => e.code === 'VIP_E_LOCKED' && e.exit === 75);
  await release();
  const again = await b.lock();
  await again();
});

test('writing back the state just read leaves the file alone; a change is written', async () => {
  const { stat } = await import('node:fs/promises');
  const dir = await tmp();
  const store = createStateStore(dir);
  const s = setHolds(emptyState(), ['192.0.2.1/32'], { reason: 'r', by: 'me', since: '2026-01-01T00:00:00.000Z', names: ['a.tld'] });
  await store.write(s);
  const file = join(dir, 'state.json');
  const before = await stat(file);
  const again = createStateStore(dir);
  await again.write(await again.read());
  assert.equal((await stat(file)).ino, before.ino, 'an atomic rewrite would give a new inode');
  await again.write(setHolds(await again.read(), ['192.0.2.2/32'], { reason: 'r2', by: 'me', since: '2026-01-01T00:00:00.000Z', names: ['b.tld'] }));
  assert.notEqual((await stat(file)).ino, before.ino);
  assert.ok('192.0.2.2/32' in JSON.parse(await readFile(file, 'utf8')).holds);
});
