// Adapter tests: the ExaBGP, GoBGP and BIRD speakers' failures, caused for real with the real programs and no daemon (or a pipe nobody reads), classified as the contract says: exit 6 for "cannot reach it", never a silent success.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openSpeaker } from '../../src/adapters/speaker.ts';
import { guardSpeaker } from '../../src/core/policy.ts';
import type { ErrorCode } from '../../src/core/errors.ts';
import { requireLab } from '../lab/prereq.ts';
import { rejectsWith as rejects } from '../rejects.ts';

const RULE = { base: 0, datacenters: 2 };
const common = { asn: 64512, prepend: RULE, timeoutMs: 15_000, vtysh: 'vtysh' };

/** the speakers' failures: unavailable is exit 6, a rejected change exit 1 */
const rejectsWith = (p: Promise<unknown>, code: ErrorCode, message?: RegExp) => rejects(p, code, message, code === 'VIP_E_APPLY' ? 1 : 6);

describe('speakers without their daemon', { concurrency: false }, () => {
  const id = randomBytes(3).toString('hex');
  const pipename = `vipt-${id}`;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vip-spk-adapter-'));
  });
  after(async () => {
    for (const end of ['in', 'out']) await rm(`/run/exabgp/${pipename}.${end}`, { force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('bird: no BIRD on the socket -> exit 6 naming it; the include is left as it was', async (t: TestContext) => {
    if (!requireLab(t, ['birdc'])) return;
    const include = join(dir, 'vip-mgmt.conf');
    await writeFile(include, 'filter vip_mgmt_export { reject; }\n');
    const sp = openSpeaker({ ...common, speaker: 'bird', bird: { birdc: 'birdc', socket: join(dir, 'none.ctl'), include } });
    await rejectsWith(sp.readRunning(), 'VIP_E_SPEAKER_DOWN', /BIRD did not answer on .*none\.ctl/);
    await rejectsWith(sp.apply(64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_DOWN');
    assert.equal(await readFile(include, 'utf8'), 'filter vip_mgmt_export { reject; }\n');
  });

  test('exabgp and gobgp are stateless, also behind the vip_prefixes guard; frr is not', () => {
    const exa = guardSpeaker(openSpeaker({ ...common, speaker: 'exabgp', exabgp: { cli: 'exabgpcli', pipename } }), ['192.0.2.0/24']);
    const gob = guardSpeaker(openSpeaker({ ...common, speaker: 'gobgp', gobgp: { cli: 'gobgp', api: { host: '127.0.0.1', port: 50051 } } }), ['192.0.2.0/24']);
    assert.equal(exa.stateless, true);
    assert.equal(gob.stateless, true);
    assert.notEqual(openSpeaker({ ...common, speaker: 'bird', bird: { birdc: 'birdc', socket: '/run/bird/bird.ctl', include: '/etc/bird/vip-mgmt.conf' } }).stateless, true);
    assert.notEqual(openSpeaker({ ...common, speaker: 'frr', pathspace: `vipt${id}` }).stateless, true);
  });

  test('a missing program: exit 6, VIP_E_SPEAKER_MISSING, naming the package', async () => {
    const exa = openSpeaker({ ...common, speaker: 'exabgp', exabgp: { cli: `/nonexistent-${id}/exabgpcli`, pipename } });
    await rejectsWith(exa.readRunning(), 'VIP_E_SPEAKER_MISSING', /apt-get install exabgp/);
    const gob = openSpeaker({ ...common, speaker: 'gobgp', gobgp: { cli: `/nonexistent-${id}/gobgp`, api: { unix: join(dir, 'none.sock') } } });
    await rejectsWith(gob.readRunning(), 'VIP_E_SPEAKER_MISSING', /apt-get install gobgpd/);
    const bird = openSpeaker({ ...common, speaker: 'bird', bird: { birdc: `/nonexistent-${id}/birdc`, socket: join(dir, 'none.ctl'), include: join(dir, 'inc.conf') } });
    await rejectsWith(bird.readRunning(), 'VIP_E_SPEAKER_MISSING', /apt-get install bird2/);
  });

  test('exabgp: no pipes -> exit 6 with how to make them; pipes nobody reads -> exit 6 at once', async (t: TestContext) => {
    if (!requireLab(t, ['exabgpcli', 'mkfifo'], { root: true })) return;
    const sp = openSpeaker({ ...common, speaker: 'exabgp', exabgp: { cli: 'exabgpcli', pipename } });
    await rejectsWith(sp.readRunning(), 'VIP_E_SPEAKER_DOWN', /mkfifo -m 600 \/run\/exabgp\//);
    await mkdir('/run/exabgp', { recursive: true });
    for (const end of ['in', 'out']) execFileSync('mkfifo', ['-m', '600', `/run/exabgp/${pipename}.${end}`]);
    const fresh = openSpeaker({ ...common, speaker: 'exabgp', exabgp: { cli: 'exabgpcli', pipename } });
    await rejectsWith(fresh.apply(64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_DOWN', /ExaBGP is not running: nothing reads/);
  });

  test('gobgp: no gobgpd on the socket or the port -> exit 6 naming the API address', async (t: TestContext) => {
    if (!requireLab(t, ['gobgp'])) return;
    const sock = openSpeaker({ ...common, speaker: 'gobgp', gobgp: { cli: 'gobgp', api: { unix: join(dir, 'none.sock') } } });
    await rejectsWith(sock.readRunning(), 'VIP_E_SPEAKER_DOWN', /gobgpd did not answer on unix:\/\/.*none\.sock/);
    await rejectsWith(sock.apply(64512, [{ action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_DOWN');
    // port 9 (discard) on loopback: nothing listens there in a test run
    const tcp = openSpeaker({ ...common, speaker: 'gobgp', gobgp: { cli: 'gobgp', api: { host: '127.0.0.1', port: 9 } } });
    await rejectsWith(tcp.neighbors(), 'VIP_E_SPEAKER_DOWN', /127\.0\.0\.1:9/);
  });
});

// A real BIRD without BGP sessions (its control socket in a temp dir, in this namespace): what the
// include file holds after an apply, and a configuration BIRD rejects.
describe('bird: the include file and birdc configure, against a real BIRD', { concurrency: false }, () => {
  let dir = '';
  let pid: number | null = null;
  let include = '';
  let socket = '';
  let conf = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vip-bird-adapter-'));
    include = join(dir, 'vip-mgmt.conf');
    socket = join(dir, 'bird.ctl');
    conf = join(dir, 'bird.conf');
  });
  after(async () => {
    if (pid !== null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const speaker = () => openSpeaker({ ...common, speaker: 'bird', bird: { birdc: 'birdc', socket, include } });

  test('apply writes the include and configures BIRD; a configure BIRD rejects is exit 1, the previous include put back, BIRD unchanged', async (t: TestContext) => {
    if (!requireLab(t, ['bird', 'birdc'], { root: true })) return;
    await writeFile(include, 'filter vip_mgmt_export { reject; }\n');
    // no BGP protocol: BIRD then runs the include's static protocols only, nothing leaves this host
    await writeFile(conf, `router id 192.0.2.254;\nprotocol device {}\ninclude "${include}";\n`);
    execFileSync('bird', ['-c', conf, '-s', socket, '-P', join(dir, 'bird.pid')]);
    pid = Number((await readFile(join(dir, 'bird.pid'), 'utf8')).trim());
    const sp = speaker();
    await sp.apply(64512, [
      { action: 'add', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-1' },
      { action: 'add', prefix: '2001:db8::1/128', routeMap: 'VIP-DRAIN' },
    ]);
    const running = await sp.readRunning();
    assert.deepEqual(running.networks, [{ prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-1' }, { prefix: '2001:db8::1/128', routeMap: 'VIP-DRAIN' }]);
    assert.deepEqual(running.routeMaps, ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-DRAIN']);
    const table = await sp.lookup(['192.0.2.1/32', '192.0.2.2/32']);
    assert.deepEqual(table.get('192.0.2.1/32'), { prefix: '192.0.2.1/32', inTable: true, valid: true, best: true, advertisedTo: 0 });
    assert.equal(table.get('192.0.2.2/32')!.inTable, false);
    const good = await readFile(include, 'utf8');
    assert.match(good, /route 192\.0\.2\.1\/32 blackhole;/);

    // the operator's part of the configuration broken: BIRD refuses the configure, keeps the old one
    await writeFile(conf, `router id 192.0.2.254;\ninclude "${include}";\nthis is not bird syntax;\n`);
    const e = await rejectsWith(sp.apply(64512, [{ action: 'delete', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-1' }]), 'VIP_E_APPLY', /BIRD rejected the new configuration .*syntax error.*keeps running its previous one; the previous .* is back in place/);
    assert.ok(e.details.include);
    assert.equal(await readFile(include, 'utf8'), good);
    assert.deepEqual((await sp.readRunning()).networks.map((n) => n.prefix), ['192.0.2.1/32', '2001:db8::1/128']);
    await writeFile(conf, `router id 192.0.2.254;\nprotocol device {}\ninclude "${include}";\n`);

    // an include vip-mgmt cannot write: exit 1 before BIRD is touched
    const nowhere = openSpeaker({ ...common, speaker: 'bird', bird: { birdc: 'birdc', socket, include: join(dir, 'no-such-dir', 'vip-mgmt.conf') } });
    await rejectsWith(nowhere.apply(64512, [{ action: 'delete', prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-1' }]), 'VIP_E_APPLY', /cannot write bgp\.bird\.include.*BIRD was not touched/);
    assert.equal((await sp.readRunning()).networks.length, 2);
  });

  test('BIRD killed: exit 6', async (t: TestContext) => {
    if (!requireLab(t, ['bird', 'birdc'], { root: true })) return;
    if (pid !== null) process.kill(pid, 'SIGKILL');
    pid = null;
    await rejectsWith(speaker().readRunning(), 'VIP_E_SPEAKER_DOWN', /BIRD did not answer/);
  });
});
