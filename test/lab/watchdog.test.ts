// The watchdog's run rules on the host lab (real FRR lb + router, real dnsmasq), reading an IPVS
// table in /proc/net/ip_vs format from a file (the host kernel has no IPVS; the VM test covers the
// real kernel): lock busy exits 75 quietly, DNS failure falls back to the last good answer,
// discover, and the daemon (--schedule with seconds, SIGHUP reload, SIGTERM exits 0).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { BIN, describeRun, jsonOf, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import { createStateStore } from '../../src/adapters/state.ts';
import { ipvsService, ipvsTable, writeIpvsTable } from '../fixtures/ipvs-tables.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq'];
const SVC = '192.0.2.70';
const DISC = '192.0.2.71';
const P_SVC = `${SVC}/32`;
const P_DISC = `${DISC}/32`;

describe('watchdog run rules and daemon on the host lab', { concurrency: false }, () => {
  let lab: BgpLab;
  let dns: LabDns;
  let dir: string;
  let cfg: string;
  let table: string;
  let base: Record<string, unknown>;

  /** Replace the table file atomically, as the kernel's view changes at once. */
  const setTable = async (svcWeights: number[], discWeights: number[] = [1, 1]) => {
    await writeIpvsTable(table, ipvsTable([ipvsService(SVC, svcWeights, 80), ipvsService(DISC, discWeights, 443)]));
  };
  const present = async (p: string) => (await lab.routerRoute(p))?.best != null;
  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const cli = (...args: string[]) => runCli(['-c', cfg, ...args]);

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-wd-'));
    table = join(dir, 'ip_vs');
    await setTable([1, 1]);
    dns = await startDnsmasq({ records: { hosts: [['svc.wd.test', SVC]] }, ttl: 1 });
    lab = await createBgpLab({ lbs: [{ name: 'par1', asn: 64512, vips: [SVC, DISC] }], router: { asn: 65000 } });
    base = labConfig({
      dc: 'par1',
      pathspace: lab.lbs.par1!.pathspace,
      dnsPort: dns.port,
      stateDir: join(dir, 'state'),
      datacenters: { par1: 64512, lon1: 64513 },
      services: [{ name: 'svc.wd.test', prefer: ['par1', 'lon1'], min_realservers: 1, restore_realservers: 1 }],
      // one cycle per change: these tests are about the run rules; the settle/rise/fall defaults are test/lab/safety.test.ts's
      extra: { watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: table }, discover: true, metrics_file: join(dir, 'vip_mgmt.prom') } },
    });
    cfg = await writeConfig(dir, base);
  });
  after(async () => {
    await lab?.destroy();
    await dns?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('one cycle announces the listed VIP and, with discover, an unlisted IPVS VIP at rank 0', async (t) => {
    if (!gate(t)) return;
    const r = await cli('watchdog', '--json');
    assert.equal(r.code, 0, describeRun(r));
    const acted = jsonOf<{ changes: { prefix: string; action: string }[] }>(r).changes.filter((c) => c.action !== 'none');
    assert.deepEqual(acted.map((c) => `${c.prefix} ${c.action}`).sort(), [`${P_SVC} add`, `${P_DISC} add`]);
    await lab.waitRoute(P_SVC, (x) => x?.best != null);
    await lab.waitRoute(P_DISC, (x) => x?.best != null);
    assert.match(await lab.lbs.par1!.vtysh(['show running-config']), new RegExp(`network ${P_DISC.replace('.', '\\.')} route-map VIP-RANK-0`));
    // node_exporter's textfile: written after the cycle
    const prom = await readFile(join(dir, 'vip_mgmt.prom'), 'utf8');
    assert.match(prom, /^vip_mgmt_vip_announced\{vip="192\.0\.2\.70",prefix="192\.0\.2\.70\/32",names="svc\.wd\.test"\} 1$/m, prom);
    assert.match(prom, /^vip_mgmt_vip_live_realservers\{vip="192\.0\.2\.71",prefix="192\.0\.2\.71\/32",names=""\} 2$/m, prom);
    assert.match(prom, /^vip_mgmt_watchdog_exit_code 0$/m);
    // --dry-run changes nothing, the metrics file included
    await setTable([0, 0]);
    try {
      const dry = await cli('watchdog', '--dry-run');
      assert.equal(dry.code, 0, describeRun(dry));
      assert.match(dry.stdout, /192\.0\.2\.70\/32\s+delete/);
      assert.equal(await readFile(join(dir, 'vip_mgmt.prom'), 'utf8'), prom);
    } finally {
      await setTable([1, 1]);
    }
  });

  test('lock busy: the cycle exits 75 and prints nothing (cron overlap is normal)', async (t) => {
    if (!gate(t)) return;
    const held = await createStateStore(join(dir, 'state')).lock();
    try {
      await setTable([0, 0]);
      const r = await cli('watchdog');
      assert.equal(r.code, 75, describeRun(r));
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, '');
      assert.ok(await present(P_SVC), 'nothing was done while the lock was held');
    } finally {
      await held.release();
      await setTable([1, 1]);
    }
  });

  test('DNS down: the last good answer is used (logged) and the watchdog still withdraws', async (t) => {
    if (!gate(t)) return;
    await dns.stop();
    try {
      await sleep(5500); // past the cache's 5 s TTL floor: the cycle must ask and fail
      await setTable([0, 0]);
      const r = await cli('watchdog');
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stderr, /resolving svc\.wd\.test .*; using the last good answer from \d{4}-/);
      assert.match(r.stderr, /0 realservers available behind 192\.0\.2\.70 > delete route/);
      await lab.waitRoute(P_SVC, (x) => x === null || x.best === null);
    } finally {
      await dns.restart();
      await setTable([1, 1]);
    }
    const back = await cli('watchdog');
    assert.equal(back.code, 0, describeRun(back));
    assert.match(back.stderr, /1 realservers available behind 192\.0\.2\.70 > add route|2 realservers available behind 192\.0\.2\.70 > add route/);
    await lab.waitRoute(P_SVC, (x) => x?.best != null);
  });

  test('daemon: --schedule with seconds withdraws on its own, SIGHUP reloads the config, SIGTERM exits 0', async (t) => {
    if (!gate(t)) return;
    const child = spawn(process.execPath, [BIN, '-c', cfg, 'watchdog', '--schedule', '* * * * * *'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      const until = async (re: RegExp, what: string) => {
        for (let i = 0; i < 150 && !re.test(log); i++) await sleep(100);
        assert.match(log, re, `${what}\n${log}`);
      };
      await until(/watchdog running on schedule/, 'daemon start');
      await setTable([0, 0]);
      await lab.waitRoute(P_SVC, (x) => x === null || x.best === null);
      await setTable([1, 1]);
      await lab.waitRoute(P_SVC, (x) => x?.best != null);

      // Raise the service's threshold above its 2 live real servers: after SIGHUP it is withdrawn.
      await writeConfig(dir, { ...base, services: [{ name: 'svc.wd.test', prefer: ['par1', 'lon1'], min_realservers: 3, restore_realservers: 3 }] });
      child.kill('SIGHUP');
      await until(/configuration reloaded from/, 'reload');
      await lab.waitRoute(P_SVC, (x) => x === null || x.best === null);
      assert.match(log, /2 realservers available behind 192\.0\.2\.70 > delete route/);

      // A broken config on SIGHUP is refused and the daemon keeps the previous one.
      await writeFile(cfg, 'dc: [not, a, name\n');
      child.kill('SIGHUP');
      await until(/reload failed, keeping the previous configuration/, 'bad reload');

      child.kill('SIGTERM');
      assert.equal(await exited, 0, log);
      assert.match(log, /watchdog stopped/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await writeConfig(dir, base);
    }
  });
});
