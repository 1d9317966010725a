// The safety contract (SPEC "Trusting inputs") on the host lab: real FRR lb + router, real dnsmasq, an
// IPVS table in /proc format (or `ipvsadm -S -n` format from a slow script) that the test rewrites.
// Implausible and cut tables change nothing for settle cycles, discover obeys policy and never
// orphans, literals keep their service's rank, holds survive render + reload, a stalled watchdog
// that lost its lock changes nothing, a full state disk changes nothing, a kill -9 frees the lock.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { BIN, describeRun, labConfig, runCli, writeConfig, type CliResult } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import { formatProcIpVs } from '../../bench/gen-ipvs.ts';
import { ipvsService, ipvsTable, writeIpvsTable } from '../fixtures/ipvs-tables.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq', 'mount', 'umount'];
const WEB = '192.0.2.80'; // web.safe.test, prefer [par1, lon1]: rank 0 here
const API = '192.0.2.81'; // api.safe.test, prefer [lon1, par1]: rank 1 here
const LON = '192.0.2.82'; // lon.safe.test, prefer [lon1]: never announced from par1, though in IPVS
const IMG = '192.0.2.83'; // img.safe.test, prefer [par1]
const IMG6 = '2001:db8::83';
const DISC = '192.0.2.84'; // in IPVS only: discovered at rank 0
const ALL = [WEB, API, IMG, IMG6, DISC];
const host = (a: string) => `${a}/${a.includes(':') ? 128 : 32}`;

const FULL = [WEB, API, LON, IMG, IMG6, DISC];

describe('safety contract on the host lab', { concurrency: false }, () => {
  let lab: BgpLab;
  let dns: LabDns;
  let dir: string;
  let table: string;
  let saveFile: string;
  let cfg: string;
  let base: Record<string, unknown>;

  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const cli = (...args: string[]) => runCli(['-c', cfg, ...args]);
  const at = async (a: string) => (await lab.routerRoute(host(a)))?.best ?? null;
  const announced = async () => {
    const out: string[] = [];
    for (const a of [...ALL, LON]) if (await at(a)) out.push(a);
    return out.sort();
  };
  const running = () => lab.lbs.par1!.vtysh(['show running-config']);

  /** Replace the table atomically (both formats), from VIP -> weights. */
  const setTable = (vips: string[], text?: string) => writeIpvsTable(table, ipvsTable(vips.map((v) => ipvsService(v, [1, 1]))), { text, save: saveFile });
  /** Cycles until the router shows exactly `want` (at most `max` cycles); returns the runs. */
  const cycles = async (n: number) => {
    const runs: CliResult[] = [];
    for (let i = 0; i < n; i++) runs.push(await cli('watchdog'));
    return runs;
  };
  const settleRoutes = async () => {
    for (const a of ALL) await lab.waitRoute(host(a), (x) => x?.best != null);
  };

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-safe-'));
    table = join(dir, 'ip_vs');
    saveFile = join(dir, 'ipvsadm.save');
    await setTable(FULL);
    dns = await startDnsmasq({
      records: { hosts: [['web.safe.test', WEB], ['api.safe.test', API], ['lon.safe.test', LON], ['img.safe.test', IMG, IMG6]] },
      ttl: 1,
    });
    lab = await createBgpLab({ lbs: [{ name: 'par1', asn: 64512, vips: [...ALL, LON] }], router: { asn: 65000 } });
    base = labConfig({
      dc: 'par1',
      pathspace: lab.lbs.par1!.pathspace,
      dnsPort: dns.port,
      stateDir: join(dir, 'state'),
      datacenters: { par1: 64512, lon1: 64513 },
      services: [
        { name: 'web.safe.test', prefer: ['par1', 'lon1'] },
        { name: 'api.safe.test', prefer: ['lon1', 'par1'] },
        { name: 'lon.safe.test', prefer: ['lon1'] },
        { name: 'img.safe.test', prefer: ['par1'] },
      ],
      // the new defaults: rise 2, fall 2, settle 2
      extra: { watchdog: { ipvs: { source: 'proc', path: table }, discover: true } },
    });
    cfg = await writeConfig(dir, base);
  });
  after(async () => {
    await lab?.destroy();
    await dns?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('start-up: every VIP this DC may announce, after rise cycles; discover never announces a VIP whose service leaves par1 out', async (t) => {
    if (!gate(t)) return;
    const runs = await cycles(3);
    assert.deepEqual(runs.map((r) => r.code), [0, 0, 0], runs.map(describeRun).join('\n'));
    await settleRoutes();
    assert.deepEqual(await announced(), [...ALL].sort());
    assert.equal(await at(LON), null, `${LON} (lon.safe.test, prefer [lon1]) is in IPVS but must never be announced from par1`);
    assert.match(await running(), /network 192\.0\.2\.81\/32 route-map VIP-RANK-1/);
    assert.match(await running(), /network 192\.0\.2\.84\/32 route-map VIP-RANK-0/);
  });

  test('a headers-only table (keepalived restarting) withdraws nothing for settle cycles, exit 1 with a warning; then it is believed', async (t) => {
    if (!gate(t)) return;
    await setTable([]);
    try {
      const doubted = await cycles(2);
      for (const r of doubted) {
        assert.equal(r.code, 1, describeRun(r));
        assert.match(r.stderr, /warning: IPVS table not believed \(\d\/2\): it lists no virtual service/);
      }
      assert.deepEqual(await announced(), [...ALL].sort(), 'nothing withdrawn while the table is doubted');
      const believed = await cycles(2); // believed: fall 1/2, then withdraw
      assert.deepEqual(believed.map((r) => r.code), [0, 0], believed.map(describeRun).join('\n'));
      assert.match(believed[1]!.stderr, /0 realservers available behind 192\.0\.2\.80 > delete route/);
      for (const a of ALL) await lab.waitRoute(host(a), (x) => x?.best == null);
    } finally {
      await setTable(FULL);
    }
    await cycles(2);
    await settleRoutes();
  });

  test('a table cut mid-line is unreadable: nothing changes, exit 1, every cycle', async (t) => {
    if (!gate(t)) return;
    const text = formatProcIpVs(ipvsTable([ipvsService(WEB, [1, 1])]));
    await setTable([], text.slice(0, text.length - 20)); // the last real server's line, cut
    try {
      const runs = await cycles(4);
      for (const r of runs) {
        assert.equal(r.code, 1, describeRun(r));
        assert.match(r.stderr, /cannot read IPVS|unreadable|malformed|cut/i);
      }
      assert.deepEqual(await announced(), [...ALL].sort());
    } finally {
      await setTable(FULL);
    }
  });

  test('a table that lost most of its services is not believed for settle cycles, then is', async (t) => {
    if (!gate(t)) return;
    await setTable([WEB]);
    try {
      const doubted = await cycles(2);
      for (const r of doubted) {
        assert.equal(r.code, 1, describeRun(r));
        assert.match(r.stderr, /IPVS table not believed \(\d\/2\): it lost 5 of the 6 virtual services/);
      }
      assert.deepEqual(await announced(), [...ALL].sort());
      await cycles(2);
      for (const a of [API, IMG, IMG6, DISC]) await lab.waitRoute(host(a), (x) => x?.best == null);
      assert.ok(await at(WEB), 'the VIP still in IPVS stays');
    } finally {
      await setTable(FULL);
    }
    await cycles(2);
    await settleRoutes();
  });

  test('a discovered VIP whose service leaves IPVS is withdrawn after settle, not orphaned', async (t) => {
    if (!gate(t)) return;
    await setTable(FULL.filter((a) => a !== DISC));
    try {
      const runs = await cycles(2);
      for (const r of runs) assert.match(r.stderr, /192\.0\.2\.84 is no longer announced from dc par1 \(its IPVS virtual services are gone\); withdrawing it if that holds for 2 cycles/);
      assert.ok(await at(DISC), 'kept for settle cycles');
      const third = await cli('watchdog');
      assert.equal(third.code, 0, describeRun(third));
      assert.match(third.stderr, /0 realservers available behind 192\.0\.2\.84 > delete route/);
      await lab.waitRoute(host(DISC), (x) => x?.best == null);
      const state = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8'));
      assert.equal(state.announced[host(DISC)], undefined, 'no longer in the journal');
    } finally {
      await setTable(FULL);
    }
    await cycles(2);
    await settleRoutes();
  });

  test('a literal -d/-a keeps the rank of the service the address belongs to', async (t) => {
    if (!gate(t)) return;
    const d = await cli('-d', API, '--reason', 'literal drain');
    assert.equal(d.code, 0, describeRun(d));
    await lab.waitRoute(host(API), (x) => x?.best == null);
    const a = await cli('-a', API);
    assert.equal(a.code, 0, describeRun(a));
    assert.match(await running(), /network 192\.0\.2\.81\/32 route-map VIP-RANK-1/);
    const r = await lab.waitRoute(host(API), (x) => x?.best != null);
    assert.deepEqual(r!.best!.asPath, [64512, 64512], 'rank 1: one prepend');
  });

  test('a held VIP is absent from render and stays withdrawn after vtysh -f of the rendered file plus a watchdog cycle', async (t) => {
    if (!gate(t)) return;
    const d = await cli('-d', 'img.safe.test', '--reason', 'disk swap');
    assert.equal(d.code, 0, describeRun(d));
    await lab.waitRoute(host(IMG), (x) => x?.best == null);
    const r = await cli('render');
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stdout, /^\s*network 192\.0\.2\.83\/32/m);
    assert.match(r.stdout, /^! held for maintenance, left out: network 192\.0\.2\.83\/32 route-map VIP-RANK-0 \(by .* since .*: disk swap\)$/m);
    assert.match(r.stdout, /^\s*network 192\.0\.2\.80\/32 route-map VIP-RANK-0$/m);
    const file = join(dir, 'rendered.conf');
    await writeFile(file, r.stdout);
    execFileSync('vtysh', ['-N', lab.lbs.par1!.pathspace, '-f', file]);
    const c = await cli('watchdog');
    assert.equal(c.code, 0, describeRun(c));
    await sleep(500);
    assert.equal(await at(IMG), null);
    assert.equal(await at(IMG6), null);
    assert.doesNotMatch(await running(), /network 192\.0\.2\.83\/32/);
    const back = await cli('-a', 'img.safe.test');
    assert.equal(back.code, 0, describeRun(back));
    await settleRoutes();
  });

  /** A config whose IPVS source is a script that signals it started, then answers after `delay`. */
  const slowIpvs = async (delay: number) => {
    const marker = join(dir, `ipvsadm-started-${Date.now()}`);
    const script = join(dir, 'slow-ipvsadm');
    await writeFile(script, `#!/bin/sh\ntouch '${marker}'\nsleep ${delay}\ncat '${saveFile}'\n`);
    await chmod(script, 0o755);
    const path = await writeConfig(dir, { ...base, watchdog: { rise: 1, fall: 1, discover: true, ipvs: { source: 'ipvsadm', ipvsadm: script } } }, 'slow.yaml');
    return { marker, path };
  };
  const startWatchdog = (config: string): { child: ChildProcess; out: () => string; exited: Promise<number | null> } => {
    const child = spawn(process.execPath, [BIN, '-c', config, 'watchdog'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { child, out: () => out, exited: new Promise((res) => child.once('exit', (code) => res(code))) };
  };
  const waitFile = async (p: string) => {
    for (let i = 0; i < 200 && !existsSync(p); i++) await sleep(50);
    assert.ok(existsSync(p), `${p} never appeared`);
  };

  test('a watchdog stalled past the lock stale time (SIGSTOP) loses its lock: the operator -d meanwhile wins, its hold survives, nothing drained comes back', async (t) => {
    if (!gate(t)) return;
    const { marker, path } = await slowIpvs(3);
    const wd = startWatchdog(path);
    try {
      await waitFile(marker); // the watchdog holds the lock and waits for IPVS
      process.kill(wd.child.pid!, 'SIGSTOP');
      const d = await cli('-d', 'web.safe.test', '--reason', 'stalled test', '--lock-wait', '60s');
      assert.equal(d.code, 0, `the operator takes the stale lock: ${describeRun(d)}`);
      await lab.waitRoute(host(WEB), (x) => x?.best == null);
      process.kill(wd.child.pid!, 'SIGCONT');
      const code = await wd.exited;
      assert.equal(code, 1, wd.out());
      assert.match(wd.out(), /lock/i);
      await sleep(1000);
      assert.equal(await at(WEB), null, 'the drained VIP did not come back');
      const state = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8'));
      assert.equal(state.holds[host(WEB)]?.reason, 'stalled test', 'the hold survived');
      const next = await cli('watchdog');
      assert.equal(next.code, 0, describeRun(next));
      assert.equal(await at(WEB), null, 'and the next cycle keeps it withdrawn');
    } finally {
      if (wd.child.exitCode === null) {
        process.kill(wd.child.pid!, 'SIGCONT');
        wd.child.kill('SIGKILL');
      }
    }
    const a = await cli('-a', 'web.safe.test');
    assert.equal(a.code, 0, describeRun(a));
    await settleRoutes();
  });

  test('after a kill -9 of a run holding the lock, the next run goes ahead at once', async (t) => {
    if (!gate(t)) return;
    const { marker, path } = await slowIpvs(5);
    const wd = startWatchdog(path);
    await waitFile(marker);
    wd.child.kill('SIGKILL');
    await wd.exited;
    const d = await cli('-d', 'api.safe.test', '--lock-wait', '0');
    assert.equal(d.code, 0, `not 75: the lock's owner is dead: ${describeRun(d)}`);
    await lab.waitRoute(host(API), (x) => x?.best == null);
    const a = await cli('-a', 'api.safe.test');
    assert.equal(a.code, 0, describeRun(a));
    await settleRoutes();
  });

  test('a full state filesystem: -d withdraws nothing and -a announces nothing, exit 1', async (t) => {
    if (!gate(t)) return;
    const mnt = join(dir, 'small');
    await mkdir(mnt, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'vip-safe-test', mnt]);
    try {
      const small = await writeConfig(dir, { ...base, state_dir: mnt }, 'small.yaml');
      const fill = async () => {
        await writeFile(join(mnt, 'fill'), Buffer.alloc(1 << 20)).catch((e: NodeJS.ErrnoException) => assert.equal(e.code, 'ENOSPC'));
      };
      await fill();
      const d = await runCli(['-c', small, '-d', 'web.safe.test']);
      assert.equal(d.code, 1, describeRun(d));
      assert.match(d.stderr, /VIP_E_STATE_IO|cannot write|no space|full/i);
      await sleep(500);
      assert.ok(await at(WEB), 'nothing withdrawn');

      await rm(join(mnt, 'fill'));
      const d2 = await runCli(['-c', small, '-d', 'web.safe.test']);
      assert.equal(d2.code, 0, describeRun(d2));
      await lab.waitRoute(host(WEB), (x) => x?.best == null);
      await fill();
      const a = await runCli(['-c', small, '-a', 'web.safe.test']);
      assert.equal(a.code, 1, describeRun(a));
      await sleep(500);
      assert.equal(await at(WEB), null, 'nothing announced: the hold could not be cleared');
      assert.equal(JSON.parse(await readFile(join(mnt, 'state.json'), 'utf8')).holds[host(WEB)]?.names[0], 'web.safe.test', 'the state file is intact');
      await rm(join(mnt, 'fill'));
      const a2 = await runCli(['-c', small, '-a', 'web.safe.test']);
      assert.equal(a2.code, 0, describeRun(a2));
      await settleRoutes();
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
