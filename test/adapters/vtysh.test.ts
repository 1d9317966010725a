// Adapter tests: the vtysh speaker against a real FRR 8.4 (lb + router namespaces from test/lab/frr.ts), every failure caused for real where FRR can cause it.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkConfigFile, createSpeaker } from '../../src/adapters/vtysh.ts';
import { VipError } from '../../src/core/errors.ts';
import type { PrefixState, Speaker, SpeakerChange } from '../../src/core/types.ts';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from '../lab/frr.ts';
import { missing, requireLab } from '../lab/prereq.ts';
import { rejectsWith } from '../rejects.ts';

const ASN = 64512;
const ON_LO = ['192.0.2.10', '192.0.2.11', '2001:db8::10'];


/** Poll lookup until pred holds for every prefix (bgpd applies a change asynchronously). */
async function waitTable(sp: Speaker, prefixes: string[], pred: (s: PrefixState) => boolean, ms = 10_000): Promise<Map<string, PrefixState>> {
  const until = Date.now() + ms;
  for (;;) {
    const m = await sp.lookup(prefixes);
    if (prefixes.every((p) => pred(m.get(p)!))) return m;
    if (Date.now() > until) assert.fail(`BGP table did not reach the expected state: ${JSON.stringify([...m.values()])}`);
    await sleep(100);
  }
}

/** 1000 distinct IPv4 prefixes (/25../32) from documentation ranges not otherwise used here. */
function manyV4(n: number): string[] {
  const out: string[] = [];
  for (const base of ['203.0.113', '198.51.100']) {
    for (let len = 32; len >= 25; len--) {
      const step = 2 ** (32 - len);
      for (let a = 0; a < 256; a += step) out.push(`${base}.${a}/${len}`);
    }
  }
  return out.slice(0, n);
}

describe('vtysh speaker on a real FRR', { concurrency: false }, () => {
  let lab: BgpLab;
  let ps: string;
  let sp: Speaker;
  let dir: string;
  const gate = (t: TestContext) => requireLab(t, FRR_LAB_COMMANDS, { root: true });

  before(async () => {
    // without the programs every test skips (or, in CI, fails) on its own, saying what is missing
    if (missing(FRR_LAB_COMMANDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-vtysh-test-'));
    lab = await createBgpLab({
      lbs: [{ name: 'par1', asn: ASN, vips: ON_LO, networks: [['192.0.2.20/32', 'VIP-RANK-1']] }],
      router: { asn: 65000 },
    });
    ps = lab.lbs.par1!.pathspace;
    sp = createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: ps, timeoutMs: 10_000 });
  });
  after(async () => {
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('readRunning parses the running config of the default instance', async (t) => {
    if (!gate(t)) return;
    const r = await sp.readRunning();
    assert.equal(r.asn, ASN);
    assert.deepEqual(r.networks, [{ prefix: '192.0.2.20/32', routeMap: 'VIP-RANK-1' }]);
    assert.deepEqual(r.routeMaps, ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2', 'VIP-RANK-3', 'VIP-DRAIN']);
    assert.match(r.text, /^Building configuration/);
  });

  test('apply adds v4 and v6 networks with route-maps in one call; readRunning and lookup show them', async (t) => {
    if (!gate(t)) return;
    await sp.apply(ASN, [
      { action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' },
      { action: 'add', prefix: '192.0.2.11/32', routeMap: 'VIP-RANK-2' },
      { action: 'add', prefix: '2001:db8::10/128', routeMap: 'VIP-RANK-1' },
    ]);
    const r = await sp.readRunning();
    assert.deepEqual(
      r.networks.filter((n) => n.prefix !== '192.0.2.20/32'),
      [
        { prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' },
        { prefix: '192.0.2.11/32', routeMap: 'VIP-RANK-2' },
        { prefix: '2001:db8::10/128', routeMap: 'VIP-RANK-1' },
      ],
    );
    const mine = ['192.0.2.10/32', '192.0.2.11/32', '2001:db8::10/128'];
    const m = await waitTable(sp, mine, (s) => s.inTable && s.valid && s.best && s.advertisedTo === 1);
    assert.deepEqual([...m.keys()], mine);
    const route = await lab.waitRoute('192.0.2.11/32', (x) => x?.best != null);
    assert.deepEqual(route!.best!.asPath, [ASN, ASN, ASN], 'VIP-RANK-2 prepends twice');
  });

  test('snapshot: the running config and the table from one vtysh, the same as readRunning + lookup', async (t) => {
    if (!gate(t)) return;
    // the networks the previous test added stay configured
    const prefixes = ['192.0.2.10/32', '2001:db8::10/128', '192.0.2.20/32', '192.0.2.99/32'];
    await waitTable(sp, ['192.0.2.10/32'], (s) => s.valid);
    const snap = await sp.snapshot!(prefixes);
    assert.deepEqual(snap.running, await sp.readRunning());
    assert.deepEqual(snap.table, await sp.lookup(prefixes));
    assert.ok(snap.running.networks.some((n) => n.prefix === '192.0.2.10/32'));
    assert.equal(snap.table.get('192.0.2.10/32')!.valid, true);
    assert.equal(snap.table.get('192.0.2.99/32')!.inTable, false);
  });

  test('apply replaces a route-map in place, and delete removes the networks', async (t) => {
    if (!gate(t)) return;
    await sp.apply(ASN, [{ action: 'add', prefix: '192.0.2.11/32', routeMap: 'VIP-RANK-0' }]);
    assert.equal((await sp.readRunning()).networks.find((n) => n.prefix === '192.0.2.11/32')?.routeMap, 'VIP-RANK-0');
    await sp.apply(ASN, [
      { action: 'delete', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' },
      { action: 'delete', prefix: '192.0.2.11/32', routeMap: 'VIP-RANK-0' },
      { action: 'delete', prefix: '2001:db8::10/128', routeMap: null },
    ]);
    assert.deepEqual((await sp.readRunning()).networks, [{ prefix: '192.0.2.20/32', routeMap: 'VIP-RANK-1' }]);
    await waitTable(sp, ['192.0.2.10/32', '192.0.2.11/32', '2001:db8::10/128'], (s) => !s.inTable);
    await lab.waitRoute('192.0.2.10/32', (x) => x === null);
  });

  test('a prefix not on a local interface is configured, in the table, but not valid (import check)', async (t) => {
    if (!gate(t)) return;
    // 192.0.2.20/32 is in the startup config but not on lo
    const m = await sp.lookup(['192.0.2.20/32', '192.0.2.21/32']);
    assert.deepEqual(m.get('192.0.2.20/32'), { prefix: '192.0.2.20/32', inTable: true, valid: false, best: false, advertisedTo: 0 });
    assert.deepEqual(m.get('192.0.2.21/32'), { prefix: '192.0.2.21/32', inTable: false, valid: false, best: false, advertisedTo: 0 });
    assert.equal(await lab.routerRoute('192.0.2.20/32'), null);
  });

  test('a rejected command is VIP_E_APPLY with vtysh own message', async (t) => {
    if (!gate(t)) return;
    const e = await rejectsWith(
      sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.77/32', routeMap: 'VIP-RANK-0' }]),
      'VIP_E_APPLY',
      /% Can't find static route specified/,
    );
    assert.equal(e.details.exitCode, 1);
    assert.equal(e.details.pathspace, ps);
    assert.deepEqual((e.details.command as string[]).slice(0, 3), ['vtysh', '-N', ps]);
    // a withdraw removes the network whatever route-map it was configured with since we read it
    await sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.20/32', routeMap: 'VIP-RANK-3' }]);
    assert.deepEqual((await sp.readRunning()).networks, []);
    await sp.apply(ASN, [{ action: 'add', prefix: '192.0.2.20/32', routeMap: 'VIP-RANK-1' }]);
    await rejectsWith(sp.apply(64999, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_APPLY', /BGP is already running; AS is 64512/);
    // vtysh stops at the rejected command: the one before it applied, the one after it did not
    await rejectsWith(
      sp.apply(ASN, [
        { action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' },
        { action: 'delete', prefix: '192.0.2.78/32', routeMap: null },
        { action: 'add', prefix: '192.0.2.11/32', routeMap: 'VIP-RANK-0' },
      ]),
      'VIP_E_APPLY',
    );
    const nets = (await sp.readRunning()).networks.map((n) => n.prefix);
    assert.ok(nets.includes('192.0.2.10/32') && !nets.includes('192.0.2.11/32'), nets.join(' '));
    await sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]);
  });

  test('a network with a route-map that does not exist is accepted silently (the caller checks first)', async (t) => {
    if (!gate(t)) return;
    await sp.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'NO-SUCH-MAP' }]);
    const r = await sp.readRunning();
    assert.equal(r.networks.find((n) => n.prefix === '192.0.2.10/32')?.routeMap, 'NO-SUCH-MAP');
    assert.ok(!r.routeMaps.includes('NO-SUCH-MAP'));
    await sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.10/32', routeMap: 'NO-SUCH-MAP' }]);
  });

  test('apply of 1, 100 and 1000 changes is one vtysh call each; lookup of 1000 prefixes is one call', async (t) => {
    if (!gate(t)) return;
    const prefixes = manyV4(1000);
    const changes = (n: number, action: 'add' | 'delete'): SpeakerChange[] => prefixes.slice(0, n).map((prefix) => ({ action, prefix, routeMap: 'VIP-RANK-0' }));
    const times: Record<string, number> = {};
    for (const n of [1, 100, 1000]) {
      let t0 = performance.now();
      await sp.apply(ASN, changes(n, 'add'));
      times[`apply ${n} add`] = performance.now() - t0;
      if (n === 1000) {
        assert.equal((await sp.readRunning()).networks.length, 1001);
        t0 = performance.now();
        const m = await sp.lookup(prefixes);
        times['lookup 1000'] = performance.now() - t0;
        assert.equal(m.size, 1000);
        // in the table, valid only where the import check finds a route (the lab's link subnets)
        assert.ok([...m.values()].every((s) => s.inTable));
        assert.ok(m.get('203.0.113.7/32')!.valid === false && m.get('198.51.100.0/30')!.valid === true);
      }
      t0 = performance.now();
      await sp.apply(ASN, changes(n, 'delete'));
      times[`apply ${n} delete`] = performance.now() - t0;
    }
    assert.equal((await sp.readRunning()).networks.length, 1);
    t.diagnostic(`timings (ms): ${Object.entries(times).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(', ')}`);
    assert.ok(times['apply 1000 add']! < 5000, 'one process for 1000 changes stays fast');
  });

  test('beyond the argv budget apply goes through vtysh -f and lookup splits; results are the same', async (t) => {
    if (!gate(t)) return;
    const small = createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: ps, timeoutMs: 10_000, maxArgvBytes: 2000 });
    const prefixes = manyV4(200);
    await small.apply(ASN, prefixes.map((prefix) => ({ action: 'add', prefix, routeMap: 'VIP-RANK-1' })));
    const r = await sp.readRunning();
    assert.equal(r.networks.filter((n) => n.routeMap === 'VIP-RANK-1').length, 201);
    const m = await small.lookup(prefixes);
    assert.deepEqual(m, await sp.lookup(prefixes));
    // a rejected line: unlike -c, vtysh -f carries on with the rest, and the message says so
    const deletes: SpeakerChange[] = prefixes.map((prefix) => ({ action: 'delete', prefix, routeMap: 'VIP-RANK-1' }));
    await rejectsWith(
      small.apply(ASN, [...deletes.slice(0, 100), { action: 'delete', prefix: '192.0.2.77/32', routeMap: null }, ...deletes.slice(100)]),
      'VIP_E_APPLY',
      /Can't find static route specified[\s\S]*vtysh -f goes on after a rejected line/,
    );
    assert.equal((await sp.readRunning()).networks.length, 1);
  });

  test('FRR 8.4 has no configuration lock vtysh can hit: a session held in configure mode does not block apply', async (t) => {
    if (!gate(t)) return;
    // A second vtysh kept in `configure terminal` (and inside `router bgp`) through an open stdin
    // pipe. Quagga would refuse our `configure terminal` ("VTY configuration is locked by other
    // VTY"); FRR has been lockless since 5.0, and `configure exclusive` exists only on daemons
    // started with --tcli, where it does not cover bgpd's classic commands either (tried by hand).
    const holder = spawn('vtysh', ['-N', ps], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      holder.stdin.write('configure terminal\nrouter bgp 64512\n');
      await sleep(300);
      await sp.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]);
      assert.ok((await sp.readRunning()).networks.some((n) => n.prefix === '192.0.2.10/32'));
      await sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]);
    } finally {
      holder.stdin.end();
      holder.kill();
    }
  });

  test('a lock message from vtysh is VIP_E_SPEAKER_LOCKED (Quagga text, through a stand-in vtysh)', async (t) => {
    if (!gate(t)) return;
    // The one failure FRR 8.4 cannot produce (see above): a script that answers like Quagga's vtysh
    // when another vty holds configure mode, then fails the next command in enable mode.
    const fake = join(dir, 'vtysh-locked');
    await writeFile(fake, '#!/bin/sh\necho "VTY configuration is locked by other VTY"\necho "% Unknown command: router bgp 64512"\nexit 1\n');
    await chmod(fake, 0o755);
    const q = createSpeaker({ dialect: 'quagga', vtysh: fake, timeoutMs: 5000 });
    const e = await rejectsWith(q.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_LOCKED', /locked by another session.*retry/s);
    assert.equal(e.exit, 6);
  });

  test('a vtysh that does not exist is VIP_E_SPEAKER_MISSING', async (t) => {
    if (!gate(t)) return;
    const gone = createSpeaker({ dialect: 'frr', vtysh: join(dir, 'no-such-vtysh'), pathspace: ps, timeoutMs: 5000 });
    const e = await rejectsWith(gone.readRunning(), 'VIP_E_SPEAKER_MISSING', /not found.*apt-get install frr/);
    assert.equal(e.exit, 6);
    await rejectsWith(gone.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: null }]), 'VIP_E_SPEAKER_MISSING');
    await rejectsWith(gone.lookup(['192.0.2.10/32']), 'VIP_E_SPEAKER_MISSING');
    await rejectsWith(checkConfigFile({ vtysh: join(dir, 'no-such-vtysh'), file: '/dev/null' }), 'VIP_E_SPEAKER_MISSING');
  });

  test('a pathspace with no daemons is VIP_E_SPEAKER_DOWN', async (t) => {
    if (!gate(t)) return;
    const none = createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: `${ps}-none`, timeoutMs: 5000 });
    const e = await rejectsWith(none.readRunning(), 'VIP_E_SPEAKER_DOWN', /could not connect to any FRR daemon in pathspace .*-none \("Exiting: failed to connect to any daemons\."\)/);
    assert.equal(e.details.stderr, 'Exiting: failed to connect to any daemons.', 'the vtysh.conf warning is dropped');
  });

  test('a hung bgpd is VIP_E_SPEAKER_DOWN after the timeout', async (t) => {
    if (!gate(t)) return;
    const pid = Number((await readFile(join(dirname(lab.lbs.par1!.configFile), 'bgpd.pid'), 'utf8')).trim());
    const quick = createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: ps, timeoutMs: 1000 });
    process.kill(pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      await rejectsWith(quick.readRunning(), 'VIP_E_SPEAKER_DOWN', /timed out after 1000 ms in pathspace .* bgpd is hung or overloaded/);
      assert.ok(Date.now() - t0 < 8000);
      await rejectsWith(quick.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_DOWN', /timed out.*part of the change may have been applied/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // the command queued while bgpd was stopped may land now: put things back
    await sleep(300);
    if ((await sp.readRunning()).networks.some((n) => n.prefix === '192.0.2.10/32')) {
      await sp.apply(ASN, [{ action: 'delete', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]);
    }
  });

  test('bgpd killed is VIP_E_SPEAKER_DOWN for every call, never "no BGP configured"', async (t) => {
    if (!gate(t)) return;
    await lab.killBgpd('par1');
    try {
      const e = await rejectsWith(sp.readRunning(), 'VIP_E_SPEAKER_DOWN', new RegExp(`^bgpd is not running in pathspace ${ps}: start it`));
      assert.equal(e.details.exitCode, 1);
      assert.equal(e.details.stderr, 'bgpd is not running');
      await rejectsWith(sp.lookup(['192.0.2.10/32']), 'VIP_E_SPEAKER_DOWN', /bgpd is not running/);
      await rejectsWith(sp.snapshot!(['192.0.2.10/32']), 'VIP_E_SPEAKER_DOWN', /bgpd is not running/);
      await rejectsWith(sp.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_DOWN', /bgpd is not running/);
      // the -f path would exit 0 having applied nothing: its probe catches it first
      const small = createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: ps, timeoutMs: 5000, maxArgvBytes: 10 });
      await rejectsWith(small.apply(ASN, [{ action: 'add', prefix: '192.0.2.10/32', routeMap: 'VIP-RANK-0' }]), 'VIP_E_SPEAKER_DOWN', /bgpd is not running/);
    } finally {
      await lab.startBgpd('par1');
    }
    const r = await sp.readRunning();
    assert.equal(r.asn, ASN);
  });

  test('checkConfigFile runs FRR own parser without a daemon', async (t) => {
    if (!gate(t)) return;
    const good = join(dir, 'good.conf');
    const bad = join(dir, 'bad.conf');
    await writeFile(good, 'route-map VIP-RANK-0 permit 10\n!\nrouter bgp 64512\n address-family ipv4 unicast\n  network 192.0.2.1/32 route-map VIP-RANK-0\n exit-address-family\n!\n');
    await writeFile(bad, 'router bgp 64512\n network 192.0.2.300/32\n neighbor foo remote-as bar\n');
    assert.deepEqual(await checkConfigFile({ vtysh: 'vtysh', file: good }), { ok: true, output: '' });
    const r = await checkConfigFile({ vtysh: 'vtysh', file: bad });
    assert.equal(r.ok, false);
    assert.equal(r.output, 'line 2: % Unknown command[25]:  network 192.0.2.300/32\nline 3: % Unknown command[25]:  neighbor foo remote-as bar');
  });
});

test('the Quagga dialect refuses a pathspace, and a pathspace must be a plain name', () => {
  assert.throws(() => createSpeaker({ dialect: 'quagga', vtysh: 'vtysh', pathspace: 'lb1', timeoutMs: 1000 }), (e: unknown) => e instanceof VipError && e.code === 'VIP_E_CONFIG' && /no -N/.test(e.message));
  assert.throws(() => createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: '../etc', timeoutMs: 1000 }), (e: unknown) => e instanceof VipError && e.code === 'VIP_E_CONFIG');
  assert.doesNotThrow(() => createSpeaker({ dialect: 'quagga', vtysh: 'vtysh', pathspace: '', timeoutMs: 1000 }));
});
