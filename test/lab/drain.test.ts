// Zero-loss maintenance on a two-DC lab (real FRR lb par1 + lb lon1, each loaded with its `vip-mgmt
// render` snippet, and a router that honours RFC 8326 GRACEFUL_SHUTDOWN): `-d --graceful` keeps par1's
// path (last resort) while lon1 takes over, then withdraws; Ctrl-C and a watchdog cycle past the
// deadline finish it; `-a` brings par1 back; `down_action: demote` keeps a dead DC's path as a last resort.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab, type RouterRoute } from './frr.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { BIN, describeRun, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import { ipvsService, ipvsTable, writeIpvsTable } from '../fixtures/ipvs-tables.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq'];
const PAR1 = 64512;
const LON1 = 65100;
const VIPS = ['192.0.2.10', '2001:db8::10'];
const PREFIXES = ['192.0.2.10/32', '2001:db8::10/128'];
const SERVICES = [{ name: 'www.example.test', prefer: ['par1', 'lon1'] }];

describe('zero-loss maintenance on a two-DC lab with a GSHUT-honouring router', { concurrency: false }, () => {
  let lab: BgpLab;
  let dns: LabDns;
  let dir: string;
  let table: string;
  const cfg: Record<string, string> = {};
  const base: Record<string, Record<string, unknown>> = {};

  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const setTable = async (weights: number[]) => {
    await writeIpvsTable(table, ipvsTable(VIPS.map((v) => ipvsService(v, weights))));
  };
  const par1Path = (r: RouterRoute | null) => r?.paths.find((p) => p.from === 'par1') ?? null;
  /** par1 announces with its rank again, and is best */
  const normal = (r: RouterRoute | null) => (r?.paths.length ?? 0) === 2 && r!.best?.from === 'par1' && !par1Path(r)!.communities?.includes('graceful-shutdown');
  /** par1's path is there, drained (community, local-pref 0), and lon1 is best */
  const drained = (r: RouterRoute | null) => {
    const p = par1Path(r);
    return (r?.paths.length ?? 0) === 2 && r!.best?.from === 'lon1' && p !== null && Boolean(p.communities?.includes('graceful-shutdown')) && p.localPref === 0;
  };
  const gone = (r: RouterRoute | null) => (r?.paths.length ?? 0) === 1 && r!.best?.from === 'lon1';
  const waitAll = async (pred: (r: RouterRoute | null) => boolean, what: string, timeoutMs = 15_000) => {
    for (const p of PREFIXES) {
      try {
        await lab.waitRoute(p, pred, timeoutMs);
      } catch (e) {
        throw new Error(`${p}: ${what}: ${JSON.stringify(await lab.routerRoute(p))} (${(e as Error).message})`);
      }
    }
  };
  const startDrain = (args: string[]) => {
    const child = spawn(process.execPath, [BIN, '-c', cfg.par1!, '-d', 'www.example.test', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return { child, out: () => out, exited: new Promise<number | null>((res) => child.once('exit', (code) => res(code))) };
  };

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-drain-'));
    table = join(dir, 'ip_vs');
    await setTable([1, 1]);
    dns = await startDnsmasq({ records: { hosts: [['www.example.test', ...VIPS] as [string, ...string[]]] }, ttl: 30 });
    const snippets: Record<string, string> = {};
    for (const dc of ['par1', 'lon1']) {
      base[dc] = labConfig({
        dc,
        pathspace: 'unused',
        dnsPort: dns.port,
        stateDir: join(dir, `state-${dc}`),
        datacenters: { par1: PAR1, lon1: LON1 },
        services: SERVICES,
        extra: { watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: table } } },
      });
      const r = await runCli(['-c', await writeConfig(dir, base[dc]!, `${dc}.yaml`), 'render']);
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stdout, /^route-map VIP-DRAIN permit 10$/m);
      snippets[dc] = r.stdout;
    }
    lab = await createBgpLab({
      lbs: [
        { name: 'par1', asn: PAR1, vips: VIPS, ranks: 0, extraConfig: snippets.par1 },
        { name: 'lon1', asn: LON1, vips: VIPS, ranks: 0, extraConfig: snippets.lon1 },
      ],
      router: { asn: 65000, gshut: true },
    });
    for (const dc of ['par1', 'lon1']) {
      base[dc] = { ...base[dc], bgp: { ...(base[dc]!.bgp as object), pathspace: lab.lbs[dc]!.pathspace } };
      cfg[dc] = await writeConfig(dir, base[dc]!, `${dc}.yaml`);
    }
    await waitAll(normal, 'both DCs, par1 best');
  });
  after(async () => {
    await lab?.destroy();
    await dns?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('-d --graceful: lon1 takes over while par1 stays as a last resort, then par1 is withdrawn; -a brings it back', async (t) => {
    if (!gate(t)) return;
    const run = startDrain(['--graceful', '5s', '--reason', 'kernel upgrade']);
    try {
      await waitAll(drained, 'stage 1: par1 drained but present, lon1 best', 5000);
      const during = await runCli(['-c', cfg.par1!, '--json', 'status']);
      const rows = JSON.parse(during.stdout).vips as { prefix: string; watchdog: string; routeMap: string }[];
      assert.deepEqual(rows.map((r) => [r.prefix, r.watchdog, r.routeMap]), PREFIXES.map((p) => [p, 'draining', 'VIP-DRAIN']));
      assert.equal(await run.exited, 0, run.out());
      await waitAll(gone, 'stage 2: par1 withdrawn');
      assert.match(run.out(), /draining www\.example\.test: \d+s left/, 'plain countdown lines when not a terminal');
      const state = JSON.parse(await readFile(join(dir, 'state-par1', 'state.json'), 'utf8'));
      assert.equal(state.holds['192.0.2.10/32'].reason, 'kernel upgrade');
      assert.equal(state.holds['192.0.2.10/32'].drain, undefined, 'the drain is over; the hold stays');
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
    const a = await runCli(['-c', cfg.par1!, '-a', 'www.example.test']);
    assert.equal(a.code, 0, describeRun(a));
    await waitAll(normal, 'back: par1 best');
  });

  test('Ctrl-C in stage 1 leaves the VIPs drained (exit 130); a watchdog cycle after the deadline finishes the drain', async (t) => {
    if (!gate(t)) return;
    const run = startDrain(['--graceful', '4s']);
    try {
      await waitAll(drained, 'stage 1', 5000);
      run.child.kill('SIGINT');
      assert.equal(await run.exited, 130, run.out());
      assert.match(run.out(), /drain interrupted: .*stay announced with VIP-DRAIN/);
      const early = await runCli(['-c', cfg.par1!, 'watchdog']);
      assert.equal(early.code, 0, describeRun(early));
      await sleep(300);
      for (const p of PREFIXES) assert.ok(drained(await lab.routerRoute(p)), `${p}: before the deadline the watchdog keeps it drained`);
      await sleep(4500);
      const late = await runCli(['-c', cfg.par1!, 'watchdog']);
      assert.equal(late.code, 0, describeRun(late));
      await waitAll(gone, 'the watchdog finished the drain');
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
    const a = await runCli(['-c', cfg.par1!, '-a', 'www.example.test']);
    assert.equal(a.code, 0, describeRun(a));
    await waitAll(normal, 'back');
  });

  test('-a during stage 1 cancels the drain: par1 is back at once and the waiting -d withdraws nothing', async (t) => {
    if (!gate(t)) return;
    const run = startDrain(['--graceful', '4s']);
    try {
      await waitAll(drained, 'stage 1', 5000);
      const a = await runCli(['-c', cfg.par1!, '-a', 'www.example.test']);
      assert.equal(a.code, 0, describeRun(a));
      await waitAll(normal, 'cancelled: par1 best again');
      assert.equal(await run.exited, 0, run.out());
      assert.match(run.out(), /nothing left to withdraw: the drain of www\.example\.test was cancelled/);
      await sleep(300);
      await waitAll(normal, 'still announced after the -d finished');
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  });

  test('without VIP-DRAIN in the speaker, -d --graceful is refused (exit 5) and changes nothing', async (t) => {
    if (!gate(t)) return;
    await lab.lbs.par1!.vtysh(['configure terminal', 'no route-map VIP-DRAIN', 'end']);
    try {
      const r = await runCli(['-c', cfg.par1!, '-d', 'www.example.test', '--graceful', '2s']);
      assert.equal(r.code, 5, describeRun(r));
      assert.match(r.stderr, /route-map VIP-DRAIN does not exist/);
      await sleep(300);
      await waitAll(normal, 'untouched');
    } finally {
      const r = await runCli(['-c', cfg.par1!, 'render']);
      const file = join(dir, 'par1.conf');
      await writeFile(file, r.stdout);
      execFileSync('vtysh', ['-N', lab.lbs.par1!.pathspace, '-f', file]);
    }
  });

  test('down_action demote: every real server at weight 0 keeps par1 as a last resort (lon1 best); recovery restores the rank route-map', async (t) => {
    if (!gate(t)) return;
    const demote = await writeConfig(dir, { ...base.par1, watchdog: { rise: 1, fall: 1, down_action: 'demote', ipvs: { source: 'proc', path: table } } }, 'par1-demote.yaml');
    await setTable([0, 0]);
    try {
      const r = await runCli(['-c', demote, 'watchdog']);
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stderr, /0 realservers available behind 192\.0\.2\.10 > demote route/);
      await waitAll(drained, 'demoted: par1 present with GSHUT, lon1 best');
      const s = await runCli(['-c', demote, '--json', 'status']);
      assert.deepEqual((JSON.parse(s.stdout).vips as { watchdog: string }[]).map((v) => v.watchdog), ['demoted', 'demoted']);
    } finally {
      await setTable([1, 1]);
    }
    const back = await runCli(['-c', demote, 'watchdog']);
    assert.equal(back.code, 0, describeRun(back));
    assert.match(back.stderr, /2 realservers available behind 192\.0\.2\.10 > add route/);
    await waitAll(normal, 'recovered: par1 best with its rank route-map');
    assert.match(await lab.lbs.par1!.vtysh(['show running-config']), /network 192\.0\.2\.10\/32 route-map VIP-RANK-0/);
  });
});
