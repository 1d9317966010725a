// Adapter tests: the FRR speaker over bgpd's vty socket (adapters/vty.ts) against a real FRR 8.4 (test/lab/frr.ts), its vtysh fallback, and a stand-in daemon for what FRR 8.4 cannot do.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createVtySpeaker } from '../../src/adapters/vty.ts';
import { createSpeaker } from '../../src/adapters/vtysh.ts';
import { openSpeaker } from '../../src/adapters/speaker.ts';
import type { PrefixState, Speaker } from '../../src/core/types.ts';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from '../lab/frr.ts';
import { missing, requireLab } from '../lab/prereq.ts';
import { rejectsWith } from '../rejects.ts';

const ASN = 64512;
const ON_LO = ['192.0.2.10', '192.0.2.11', '2001:db8::10'];


async function waitTable(sp: Speaker, prefixes: string[], pred: (s: PrefixState) => boolean, ms = 10_000): Promise<Map<string, PrefixState>> {
  const until = Date.now() + ms;
  for (;;) {
    const m = await sp.lookup(prefixes);
    if (prefixes.every((p) => pred(m.get(p)!))) return m;
    if (Date.now() > until) assert.fail(`BGP table did not reach the expected state: ${JSON.stringify([...m.values()])}`);
    await sleep(20);
  }
}

describe('vty socket speaker on a real FRR', { concurrency: false }, () => {
  let lab: BgpLab;
  let ps: string;
  let dir: string;
  let sp: ReturnType<typeof createVtySpeaker>;
  let viaVtysh: ReturnType<typeof createSpeaker>;
  const gate = (t: TestContext) => requireLab(t, FRR_LAB_COMMANDS, { root: true });
  const vtyshSpeaker = (pathspace: string) => async () => createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace, timeoutMs: 10_000 });

  before(async () => {
    if (missing(FRR_LAB_COMMANDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-vty-test-'));
    lab = await createBgpLab({ lbs: [{ name: 'par1', asn: ASN, vips: ON_LO, networks: [['192.0.2.20/32', 'VIP-RANK-1']] }], router: { asn: 65000 } });
    ps = lab.lbs.par1!.pathspace;
    sp = createVtySpeaker({ pathspace: ps, timeoutMs: 10_000, fallback: vtyshSpeaker(ps) });
    viaVtysh = createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: ps, timeoutMs: 10_000 });
  });
  after(async () => {
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('readRunning over the socket reads what vtysh reads (ASN, networks, route-maps), with no vtysh process', async (t) => {
    if (!gate(t)) return;
    const r = await sp.readRunning();
    assert.equal(sp.transport(), 'vty');
    const v = await viaVtysh.readRunning();
    assert.equal(r.asn, ASN);
    assert.deepEqual(r.networks, [{ prefix: '192.0.2.20/32', routeMap: 'VIP-RANK-1' }]);
    assert.deepEqual([r.asn, r.networks, r.routeMaps], [v.asn, v.networks, v.routeMaps]);
    // bgpd's own part of the config: its route-maps are there, zebra's lines are not
    assert.match(r.text, /^route-map VIP-RANK-3 permit 10$/m);
    assert.doesNotMatch(r.text, /^Building configuration/);
  });

  test('apply adds and removes v4 and v6 networks in one call; lookup and snapshot agree with vtysh; the router sees it', async (t) => {
    if (!gate(t)) return;
    const mine = ['192.0.2.10/32', '192.0.2.11/32', '2001:db8::10/128'];
    await sp.apply(ASN, [
      { action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' },
      { action: 'add', prefix: '192.0.2.11/32', routeMap: 'VIP-RANK-2' },
      { action: 'add', prefix: '2001:db8::10/128', routeMap: 'VIP-RANK-1' },
    ]);
    await waitTable(sp, mine, (s) => s.inTable && s.valid && s.best && s.advertisedTo === 1);
    const snap = await sp.snapshot!([...mine, '192.0.2.99/32']);
    assert.deepEqual(snap.table, await viaVtysh.lookup([...mine, '192.0.2.99/32']));
    assert.deepEqual(snap.running.networks, (await viaVtysh.readRunning()).networks);
    assert.equal(snap.table.get('192.0.2.99/32')!.inTable, false);
    const route = await lab.waitRoute('192.0.2.11/32', (x) => x?.best != null);
    assert.deepEqual(route!.best!.asPath, [ASN, ASN, ASN], 'VIP-RANK-2 prepends twice');
    await sp.apply(ASN, mine.map((prefix) => ({ action: 'delete' as const, prefix, routeMap: null })));
    assert.deepEqual((await sp.readRunning()).networks, [{ prefix: '192.0.2.20/32', routeMap: 'VIP-RANK-1' }]);
    await lab.waitRoute('192.0.2.11/32', (x) => x === null);
    assert.equal(sp.transport(), 'vty');
  });

  test('a rejected command is VIP_E_APPLY with bgpd own message and status; a refused block stops the batch, a rejected network line does not; the session stays usable', async (t) => {
    if (!gate(t)) return;
    const e = await rejectsWith(sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.77/32', routeMap: null }]), 'VIP_E_APPLY', /Can't find static route specified/);
    assert.equal(e.details.status, 13, 'CMD_WARNING_CONFIG_FAILED');
    assert.equal(e.details.failed, 'no network 192.0.2.77/32');
    // `router bgp 64999` refused: no network line is sent
    await rejectsWith(sp.apply(64999, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_APPLY', /BGP is already running; AS is 64512[\s\S]*no network line was sent/);
    assert.ok(!(await sp.readRunning()).networks.some((n) => n.prefix === '192.0.2.10/32'));
    // network lines go together: a rejected one is reported, with every rejected one, and the others apply
    const e2 = await rejectsWith(
      sp.apply(ASN, [
        { action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' },
        { action: 'delete', prefix: '192.0.2.78/32', routeMap: null },
        { action: 'add', prefix: '192.0.2.11/32', routeMap: 'VIP-RANK-0' },
        { action: 'delete', prefix: '2001:db8::78/128', routeMap: null },
      ]),
      'VIP_E_APPLY',
      /"no network 192\.0\.2\.78\/32" answered configuration failed \(13\): % Can't find static route specified \(and 1 more: "no network 2001:db8::78\/128"\)[\s\S]*every other network line was applied/,
    );
    assert.deepEqual(e2.details.rejected, ['no network 192.0.2.78/32', 'no network 2001:db8::78/128']);
    // the same connection, back in enable mode: reads work, and the good lines were applied
    const nets = (await sp.readRunning()).networks.map((n) => n.prefix);
    assert.ok(nets.includes('192.0.2.10/32') && nets.includes('192.0.2.11/32'), nets.join(' '));
    assert.equal(sp.transport(), 'vty');
    await sp.apply(ASN, [
      { action: 'delete', prefix: '192.0.2.10/32', routeMap: null },
      { action: 'delete', prefix: '192.0.2.11/32', routeMap: null },
    ]);
  });

  test('a network with a route-map that does not exist is accepted silently, as through vtysh (the caller checks first)', async (t) => {
    if (!gate(t)) return;
    await sp.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'NO-SUCH-MAP' }]);
    const r = await sp.readRunning();
    assert.equal(r.networks.find((n) => n.prefix === '192.0.2.10/32')?.routeMap, 'NO-SUCH-MAP');
    assert.ok(!r.routeMaps.includes('NO-SUCH-MAP'), 'so missingRouteMaps() sees it missing and add refuses (exit 5)');
    await sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.10/32', routeMap: null }]);
  });

  test('a hung bgpd is VIP_E_SPEAKER_DOWN after bgp.timeout', async (t) => {
    if (!gate(t)) return;
    const pid = Number((await readFile(join(dirname(lab.lbs.par1!.configFile), 'bgpd.pid'), 'utf8')).trim());
    const quick = createVtySpeaker({ pathspace: ps, timeoutMs: 1000, fallback: vtyshSpeaker(ps) });
    await quick.readRunning(); // connected before the hang
    process.kill(pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      await rejectsWith(quick.readRunning(), 'VIP_E_SPEAKER_DOWN', /did not answer within 1000 ms in pathspace .* bgpd is hung or overloaded/);
      assert.ok(Date.now() - t0 < 5000);
      await rejectsWith(quick.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_DOWN', /did not answer within 1000 ms/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await sleep(300);
    if ((await sp.readRunning()).networks.some((n) => n.prefix === '192.0.2.10/32')) await sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.10/32', routeMap: null }]);
  });

  test('no socket there (wrong directory) or a stale one (ECONNREFUSED): the same answers through vtysh', async (t) => {
    if (!gate(t)) return;
    const none = createVtySpeaker({ pathspace: ps, timeoutMs: 10_000, fallback: vtyshSpeaker(ps), vtyDir: join(dir, 'nowhere') });
    assert.deepEqual((await none.readRunning()).networks, (await viaVtysh.readRunning()).networks);
    assert.match(none.transport(), /^vtysh \(.*bgpd\.vty: ENOENT\)$/);
    // a socket file nobody listens on, as a bgpd killed with -9 leaves behind
    const staleDir = join(dir, 'stale');
    execFileSync('mkdir', ['-p', join(staleDir, ps)]);
    execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(staleDir, ps, 'bgpd.vty'))})`]);
    const stale = createVtySpeaker({ pathspace: ps, timeoutMs: 10_000, fallback: vtyshSpeaker(ps), vtyDir: staleDir });
    await stale.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]);
    assert.match(stale.transport(), /ECONNREFUSED/);
    await waitTable(sp, ['192.0.2.10/32'], (s) => s.valid);
    await stale.apply(ASN, [{ action: 'delete', prefix: '192.0.2.10/32', routeMap: null }]);
    // bgp.transport: vtysh and Quagga never open the socket
    const forced = openSpeaker({ dialect: 'frr', transport: 'vtysh', vtysh: 'vtysh', pathspace: ps, timeoutMs: 10_000 });
    assert.equal(forced.transport, undefined);
    assert.deepEqual((await forced.readRunning()).networks, (await viaVtysh.readRunning()).networks);
  });

  test('bgpd killed, also under an open connection: VIP_E_SPEAKER_DOWN for every call (vtysh says bgpd is not running), never "no BGP configured"', async (t) => {
    if (!gate(t)) return;
    const open = createVtySpeaker({ pathspace: ps, timeoutMs: 5000, fallback: vtyshSpeaker(ps) });
    await open.readRunning();
    await lab.killBgpd('par1');
    try {
      for (const call of [
        () => open.readRunning(),
        () => open.lookup(['192.0.2.10/32']),
        () => open.snapshot!(['192.0.2.10/32']),
        () => open.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]),
        () => open.neighbors(),
      ]) {
        const e = await rejectsWith(call(), 'VIP_E_SPEAKER_DOWN', /bgpd is not running|bgpd closed its vty connection/);
        assert.equal(e.exit, 6);
      }
      assert.match(open.transport(), /^vtysh \(.*ENOENT\)$/, 'the socket is gone: vtysh answered');
    } finally {
      await lab.startBgpd('par1');
    }
    assert.equal((await open.readRunning()).asn, ASN, 'and the socket is used again once bgpd is back');
    assert.equal(open.transport(), 'vty');
    // a daemon's kept connection across a bgpd restart: the next apply (or read) opens a new one
    await lab.killBgpd('par1');
    await lab.startBgpd('par1');
    await open.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]);
    assert.equal(open.transport(), 'vty');
    await lab.killBgpd('par1');
    await lab.startBgpd('par1');
    assert.equal((await open.lookup(['192.0.2.10/32'])).size, 1, 'a read as the first call after the restart');
    assert.ok(!(await open.readRunning()).networks.some((n) => n.prefix === '192.0.2.10/32'), 'a restarted bgpd has its startup config');
    assert.equal(open.transport(), 'vty');
  });
});

test('a daemon that refuses "enable" (an FRR whose vty differs) sends every call to vtysh; a garbled stream is VIP_E_SPEAKER_DOWN', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vip-vty-fake-'));
  const path = join(dir, 'bgpd.vty');
  let answer = (cmd: string): Buffer => Buffer.concat([Buffer.from(`% Unknown command: ${cmd}\n`), Buffer.from([0, 0, 0, 2])]);
  const server = createServer((c) => c.on('data', (d) => {
    for (const cmd of d.toString().split('\0').slice(0, -1)) c.write(answer(cmd));
  }));
  await new Promise<void>((r) => server.listen(path, r));
  try {
    let asked = 0;
    const stub = { readRunning: async () => (asked++, { asn: 1, networks: [], routeMaps: [], text: '' }) } as never;
    const sp = createVtySpeaker({ timeoutMs: 2000, fallback: async () => stub, vtyDir: dir });
    assert.deepEqual(await sp.readRunning(), { asn: 1, networks: [], routeMaps: [], text: '' });
    await sp.readRunning();
    assert.equal(asked, 2);
    assert.match(sp.transport(), /refused "enable".*unknown command \(2\)/);
    // a stream that is not the protocol: a NUL inside the text
    answer = (cmd) => Buffer.from(cmd === 'enable' ? [0, 0, 0, 0] : [...Buffer.from('abc\0def'), 0, 0, 0, 0]);
    const garbled = createVtySpeaker({ timeoutMs: 2000, fallback: async () => stub, vtyDir: dir });
    await rejectsWith(garbled.readRunning(), 'VIP_E_SPEAKER_DOWN', /not FRR's vty protocol/);
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
