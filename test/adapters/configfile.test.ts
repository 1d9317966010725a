// The config file as a run reads it (src/config/file.ts): the validated config comes from the cache
// only when this build validated this very text, and the cache is used only where it is safe.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/file.ts';
import { peekStateDir } from '../../src/config/statedir.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { OWN_KEY_RECORDS, reviveConfig } from '../../src/config/records.ts';

const made: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'vip-cfg-'));
  made.push(d);
  return d;
};
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

/** Every kind of key, both own-key records included. */
const FULL = `
dc: par1
bgp: { speaker: frr, pathspace: lab1, timeout: 3s }
dns: { servers: ["127.0.0.1:5353"], timeout: 500ms }
vip_prefixes: [192.0.2.0/24, 2001:db8::/48]
datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 } }
services:
  - { name: service.tld, prefer: [par1, lon1], min_realservers: 1, restore_realservers: 2 }
watchdog: { fwmarks: { "7": [192.0.2.7] }, down_action: demote }
drain: { graceful: 30s }
state_dir: /tmp/x
`;

test('a cached config is the parsed one, prototypes included (every own-key record is revived)', () => {
  const { config } = parseConfigText(FULL, '/etc/vip-mgmt/config.yaml');
  assert.ok(config);
  for (const path of OWN_KEY_RECORDS) {
    const rec = path.reduce<any>((o, k) => o?.[k], config);
    assert.equal(Object.getPrototypeOf(rec), null, `${path.join('.')} has no prototype`);
  }
  // deepStrictEqual compares prototypes: a record made prototype-free by the schema but missing
  // from OWN_KEY_RECORDS fails here
  assert.deepStrictEqual(reviveConfig(JSON.parse(JSON.stringify(config))), config);
});

test('the first load validates and caches; the next one returns the same config from the cache', async () => {
  const dir = await tmp();
  const cache = join(dir, 'cache');
  const file = join(dir, 'config.yaml');
  await writeFile(file, FULL);
  const first = await loadConfig(file, { cache, buildId: 'b1' });
  const entries = await readdir(cache);
  assert.equal(entries.length, 1);
  assert.match(entries[0]!, /^config-[0-9a-f]{64}\.json$/);
  assert.equal((await stat(cache)).mode & 0o777, 0o700);
  assert.equal((await stat(join(cache, entries[0]!))).mode & 0o777, 0o600);
  const second = await loadConfig(file, { cache, buildId: 'b1' });
  assert.deepStrictEqual(second, first);
  // proof that the second came from the cache: an entry edited in place is what it returns
  const entry = join(cache, entries[0]!);
  const cached = JSON.parse(await readFile(entry, 'utf8'));
  cached.dc = 'lon1';
  await writeFile(entry, JSON.stringify(cached), { mode: 0o600 });
  assert.equal((await loadConfig(file, { cache, buildId: 'b1' })).dc, 'lon1');
  // another build, or another text, never matches that entry
  assert.equal((await loadConfig(file, { cache, buildId: 'b2' })).dc, 'par1');
  await writeFile(file, `${FULL}\n# a comment\n`);
  assert.equal((await loadConfig(file, { cache, buildId: 'b1' })).dc, 'par1');
  assert.equal((await readdir(cache)).length, 3);
});

test('an invalid config is never cached and fails every time', async () => {
  const dir = await tmp();
  const cache = join(dir, 'cache');
  const file = join(dir, 'config.yaml');
  await writeFile(file, FULL.replace('asn: 64513', 'asn: -1'));
  for (let i = 0; i < 2; i++) await assert.rejects(loadConfig(file, { cache, buildId: 'b1' }), (e: any) => e.code === 'VIP_E_CONFIG' && e.exit === 3);
  assert.deepEqual(await readdir(cache).catch(() => []), []);
});

test('a cache directory others may write to, a symlinked entry, or no build id: parsed as without a cache', async () => {
  const dir = await tmp();
  const file = join(dir, 'config.yaml');
  await writeFile(file, FULL);
  // group/other-writable: neither read nor written
  const open = join(dir, 'open');
  await mkdir(open);
  await chmod(open, 0o777);
  await loadConfig(file, { cache: open, buildId: 'b1' });
  assert.deepEqual(await readdir(open), []);
  // an entry that is a symlink is not followed, even to the right content
  const cache = join(dir, 'cache');
  await loadConfig(file, { cache, buildId: 'b1' });
  const [name] = await readdir(cache);
  const real = join(dir, 'elsewhere.json');
  const forged = JSON.parse(await readFile(join(cache, name!), 'utf8'));
  forged.dc = 'lon1';
  await writeFile(real, JSON.stringify(forged), { mode: 0o600 });
  await rm(join(cache, name!));
  await symlink(real, join(cache, name!));
  assert.equal((await loadConfig(file, { cache, buildId: 'b1' })).dc, 'par1');
  // unbundled (no build id): no cache at all
  const none = join(dir, 'none');
  await loadConfig(file, { cache: none, buildId: null });
  await assert.rejects(stat(none));
});

test('the cache keeps the 32 newest entries', async () => {
  const dir = await tmp();
  const cache = join(dir, 'cache');
  const file = join(dir, 'config.yaml');
  for (let i = 0; i < 35; i++) {
    await writeFile(file, `${FULL}\n# ${i}\n`);
    await loadConfig(file, { cache, buildId: 'b1' });
  }
  assert.equal((await readdir(cache)).length, 32);
});

test('watchdog --now takes state_dir from the cache when this build validated this text, else from the YAML', async () => {
  const dir = await tmp();
  const cache = join(dir, 'cache');
  const file = join(dir, 'config.yaml');
  // a big file, as 1,000 services make it (a small one is read as YAML at once, cache or not)
  const BIG = `${FULL}${'# padding\n'.repeat(1000)}`;
  await writeFile(file, BIG);
  assert.equal(await peekStateDir(file, { cache, buildId: 'b1' }), '/tmp/x', 'no entry yet: the YAML');
  await loadConfig(file, { cache, buildId: 'b1' });
  const [name] = await readdir(cache);
  const entry = join(cache, name!);
  // proof that the entry is what is read: one edited in place is what it returns
  await writeFile(entry, JSON.stringify({ ...JSON.parse(await readFile(entry, 'utf8')), state_dir: '/from/cache' }));
  assert.equal(await peekStateDir(file, { cache, buildId: 'b1' }), '/from/cache');
  assert.equal(await peekStateDir(file, { cache, buildId: 'b2' }), '/tmp/x', 'another build: the YAML');
  await writeFile(file, `${BIG}\n`);
  assert.equal(await peekStateDir(file, { cache, buildId: 'b1' }), '/tmp/x', 'another text: the YAML');
  await writeFile(file, BIG);
  await chmod(cache, 0o777);
  assert.equal(await peekStateDir(file, { cache, buildId: 'b1' }), '/tmp/x', 'a cache others may write to: the YAML');
});

test('watchdog --now reads a small config as YAML even when the cache has it (faster than the lookup)', async () => {
  const dir = await tmp();
  const cache = join(dir, 'cache');
  const file = join(dir, 'config.yaml');
  await writeFile(file, FULL);
  await loadConfig(file, { cache, buildId: 'b1' });
  const [name] = await readdir(cache);
  const entry = join(cache, name!);
  await writeFile(entry, JSON.stringify({ ...JSON.parse(await readFile(entry, 'utf8')), state_dir: '/from/cache' }));
  assert.equal(await peekStateDir(file, { cache, buildId: 'b1' }), '/tmp/x');
});
