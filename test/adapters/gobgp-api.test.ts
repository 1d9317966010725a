// The GoBGP speaker's gRPC apply path against a real gobgpd (no peers: its API on a unix socket in a
// temp dir): routes as the CLI makes them, withdrawals whichever way a route went in, one refused
// path refuses its whole batch, batches past one message, gobgpd stopped or gone is exit 6.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGobgpSpeaker, type GobgpSpeaker } from '../../src/adapters/gobgp.ts';
import { addPathStream, grpcTarget, requestMessages } from '../../src/adapters/gobgp-api.ts';
import { gobgpApiPath, parseGlobalRib, type GobgpApiPath } from '../../src/core/gobgp.ts';
import { VipError } from '../../src/core/errors.ts';
import type { SpeakerChange } from '../../src/core/types.ts';
import { missing, requireLab } from '../lab/prereq.ts';

const run = promisify(execFile);
const ASN = 64512;
const RULE = { base: 0, datacenters: 3 };
const NEEDS = ['gobgpd', 'gobgp'];

describe('GoBGP gRPC apply against a real gobgpd', { concurrency: false }, () => {
  let dir = '';
  let sock = '';
  let gobgpd: ChildProcess | null = null;
  let grpcSpeaker: GobgpSpeaker;
  let cliSpeaker: GobgpSpeaker;

  const start = async () => {
    gobgpd = spawn('gobgpd', ['-f', join(dir, 'gobgpd.toml'), '--api-hosts', `unix://${sock}`, '--pprof-disable', '-p', '-l', 'warn'], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      const r = await run('gobgp', ['--target', `unix://${sock}`, 'global', '-j']).catch(() => null);
      if (r && /"asn":64512/.test(r.stdout)) return;
      assert.ok(i < 100, 'gobgpd did not answer within 10 s');
      await sleep(100);
    }
  };
  const stop = async () => {
    if (!gobgpd || gobgpd.exitCode !== null || gobgpd.signalCode !== null) return;
    const gone = once(gobgpd, 'exit');
    gobgpd.kill('SIGCONT');
    gobgpd.kill('SIGKILL');
    await gone;
    await rm(sock, { force: true }); // a killed gobgpd leaves its socket
  };
  /** the global rib's JSON for family F: prefix -> attrs (age and nlri left out) */
  const rib = async (f: 'ipv4' | 'ipv6'): Promise<Record<string, unknown>> => {
    const { stdout } = await run('gobgp', ['--target', `unix://${sock}`, 'global', 'rib', '-a', f, '-j']);
    const doc = JSON.parse(stdout.trim() || '{}') as Record<string, { attrs: unknown }[]>;
    return Object.fromEntries(Object.entries(doc).map(([p, paths]) => [p, paths[0]!.attrs]));
  };
  const add = (prefix: string, routeMap: string): SpeakerChange => ({ action: 'add', prefix, routeMap });
  const del = (prefix: string): SpeakerChange => ({ action: 'delete', prefix, routeMap: null });

  before(async () => {
    if (missing(NEEDS).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-gobgp-api-'));
    sock = join(dir, 'api.sock');
    await writeFile(join(dir, 'gobgpd.toml'), `[global.config]\n  as = ${ASN}\n  router-id = "192.0.2.1"\n  port = -1\n`);
    await start();
    const settings = { cli: 'gobgp', api: { unix: sock } };
    grpcSpeaker = createGobgpSpeaker({ asn: ASN, prepend: RULE, timeoutMs: 3000, daemon: { ...settings, apply: 'grpc' } }) as GobgpSpeaker;
    cliSpeaker = createGobgpSpeaker({ asn: ASN, prepend: RULE, timeoutMs: 3000, daemon: { ...settings, apply: 'cli' } }) as GobgpSpeaker;
  });
  after(async () => {
    await stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a route added through the API is the route the CLI adds: same attributes, v4 and v6, rank and VIP-DRAIN', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    await grpcSpeaker.apply(ASN, [add('198.51.100.1/32', 'VIP-RANK-1'), add('198.51.100.2/32', 'VIP-DRAIN'), add('2001:db8::1/128', 'VIP-RANK-2'), add('198.51.100.3/32', 'VIP-RANK-0')]);
    await cliSpeaker.applyCli(ASN, [add('198.51.100.11/32', 'VIP-RANK-1'), add('198.51.100.12/32', 'VIP-DRAIN'), add('2001:db8::11/128', 'VIP-RANK-2'), add('198.51.100.13/32', 'VIP-RANK-0')]);
    const [v4, v6] = [await rib('ipv4'), await rib('ipv6')];
    for (const [api, cli] of [['198.51.100.1/32', '198.51.100.11/32'], ['198.51.100.2/32', '198.51.100.12/32'], ['198.51.100.3/32', '198.51.100.13/32']] as const) {
      assert.deepEqual(v4[api], v4[cli], `${api} (API) and ${cli} (CLI)`);
    }
    // MP_REACH_NLRI carries the prefix itself
    const own = (p: string) => JSON.stringify(v6[p]).replaceAll(p, 'PREFIX');
    assert.equal(own('2001:db8::1/128'), own('2001:db8::11/128'));
    // and the speaker reads them back as their route-maps
    const running = await grpcSpeaker.readRunning();
    const maps = Object.fromEntries(running.networks.map((n) => [n.prefix, n.routeMap]));
    assert.deepEqual([maps['198.51.100.1/32'], maps['198.51.100.2/32'], maps['2001:db8::1/128'], maps['198.51.100.3/32']], ['VIP-RANK-1', 'VIP-DRAIN', 'VIP-RANK-2', 'VIP-RANK-0']);
    assert.deepEqual(parseGlobalRib(JSON.stringify({ '198.51.100.2/32': [{ attrs: v4['198.51.100.2/32'] }] }))[0]!.communities, [65535 * 65536]);
  });

  test('a withdrawal removes a route however it was added; one GoBGP does not have is a no-op; a re-add with another route-map replaces it', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    await grpcSpeaker.apply(ASN, [del('198.51.100.11/32'), del('2001:db8::1/128'), del('198.51.100.99/32'), add('198.51.100.1/32', 'VIP-DRAIN')]);
    const [v4, v6] = [await rib('ipv4'), await rib('ipv6')];
    assert.equal(v4['198.51.100.11/32'], undefined, 'a CLI-added route withdrawn through the API');
    assert.equal(v6['2001:db8::1/128'], undefined);
    await cliSpeaker.applyCli(ASN, [del('198.51.100.3/32')]);
    assert.equal((await rib('ipv4'))['198.51.100.3/32'], undefined, 'and an API-added one through the CLI (bgp.gobgp.apply: cli)');
    const maps = Object.fromEntries((await grpcSpeaker.readRunning()).networks.map((n) => [n.prefix, n.routeMap]));
    assert.equal(maps['198.51.100.1/32'], 'VIP-DRAIN');
    await grpcSpeaker.apply(ASN, Object.keys(maps).map(del));
    assert.deepEqual((await grpcSpeaker.readRunning()).networks, []);
  });

  test('a batch past one request message (2,500 routes: 3 messages) goes in whole, and out whole', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const prefixes = Array.from({ length: 2500 }, (_, i) => `198.51.${100 + (i >> 8)}.${i & 255}/32`);
    assert.equal(requestMessages(prefixes.map((p) => gobgpApiPath(ASN, add(p, 'VIP-RANK-0'), RULE))).length, 3);
    await grpcSpeaker.apply(ASN, prefixes.map((p) => add(p, 'VIP-RANK-0')));
    assert.equal(Object.keys(await rib('ipv4')).length, 2500);
    await grpcSpeaker.apply(ASN, prefixes.map(del));
    assert.deepEqual(await rib('ipv4'), {});
  });

  test('one path gobgpd refuses refuses its whole batch: VIP_E_APPLY with its reason, nothing of it applied', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const good = gobgpApiPath(ASN, add('198.51.100.7/32', 'VIP-RANK-0'), RULE);
    const bad: GobgpApiPath = { ...good, address: '198.51.100.8', nextHop: 'not-an-address' as '::' };
    await assert.rejects(addPathStream({ unix: sock }, 'unix://test', [good, bad], 3000), (e: VipError) => e.code === 'VIP_E_APPLY' && e.exit !== 6 && /nothing of it was applied/.test(e.message) && /nexthop/i.test(e.message));
    assert.deepEqual(await rib('ipv4'), {});
  });

  test('gobgpd stopped (SIGSTOP): exit 6 within the timeout; gobgpd gone: exit 6 naming the API', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const quick = createGobgpSpeaker({ asn: ASN, prepend: RULE, timeoutMs: 1000, daemon: { cli: 'gobgp', api: { unix: sock }, apply: 'grpc' } });
    gobgpd!.kill('SIGSTOP');
    try {
      const t0 = performance.now();
      await assert.rejects(quick.apply(ASN, [add('198.51.100.9/32', 'VIP-RANK-0')]), (e: VipError) => e.code === 'VIP_E_SPEAKER_DOWN' && e.exit === 6 && /no answer within 1000 ms/.test(e.message));
      assert.ok(performance.now() - t0 < 5000, 'bounded by the timeout');
    } finally {
      gobgpd!.kill('SIGCONT');
    }
    await stop();
    await assert.rejects(quick.apply(ASN, [add('198.51.100.9/32', 'VIP-RANK-0')]), (e: VipError) => e.code === 'VIP_E_SPEAKER_DOWN' && e.exit === 6 && e.message.includes(`unix://${sock}`));
    await start(); // the suite's after() stops it again
  });

  test('grpcTarget: a unix socket, IPv4, IPv6 and a host name', () => {
    assert.equal(grpcTarget({ unix: '/run/gobgp.sock' }), 'unix:///run/gobgp.sock');
    assert.equal(grpcTarget({ host: '127.0.0.1', port: 50051 }), 'ipv4:127.0.0.1:50051');
    assert.equal(grpcTarget({ host: '::1', port: 50051 }), 'ipv6:[::1]:50051');
    assert.equal(grpcTarget({ host: 'lb1.example.net', port: 50051 }), 'dns:lb1.example.net:50051');
  });
});
