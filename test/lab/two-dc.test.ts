// Two datacenters on real FRR, each loaded with its own `vip-mgmt render` snippet: the router ranks them by AS-path length.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab, type RouterRoute } from './frr.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { describeRun, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq'];
const PAR1 = 64512;
const LON1 = 65100; // the DCs have different AS numbers, as two DCs may

// www prefers par1, api prefers lon1; both DCs announce both, the other one with a longer path.
const RECORDS = {
  cname: [['www.example.test', 'web.example.test']] as [string, string][],
  hosts: [
    ['web.example.test', '192.0.2.10', '2001:db8::10'],
    ['api.example.test', '192.0.2.20'],
  ] as [string, ...string[]][],
};
const VIPS = ['192.0.2.10', '2001:db8::10', '192.0.2.20'];
const SERVICES = [
  { name: 'www.example.test', prefer: ['par1', 'lon1'] },
  { name: 'api.example.test', prefer: ['lon1', 'par1'] },
];

const bestOf = (r: RouterRoute | null) => (r?.best ? { from: r.best.from, asPath: r.best.asPath } : null);
const pathFrom = (r: RouterRoute | null, dc: string) => r?.paths.find((p) => p.from === dc)?.asPath ?? null;

describe('render on a two-DC lab', { concurrency: false }, () => {
  let lab: BgpLab;
  let dns: LabDns;
  let dir: string;
  const cfg: Record<string, string> = {};

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-2dc-'));
    dns = await startDnsmasq({ records: RECORDS, ttl: 30 });
    // Render each DC's snippet with the CLI first: it needs only DNS, not the speaker.
    const snippets: Record<string, string> = {};
    for (const dc of ['par1', 'lon1']) {
      const base = labConfig({
        dc,
        pathspace: 'unused',
        dnsPort: dns.port,
        stateDir: join(dir, `state-${dc}`),
        datacenters: { par1: PAR1, lon1: LON1 },
        services: SERVICES,
      });
      const path = await writeConfig(dir, base, `${dc}.yaml`);
      const r = await runCli(['-c', path, 'render']);
      assert.equal(r.code, 0, describeRun(r));
      snippets[dc] = r.stdout;
    }
    lab = await createBgpLab({
      lbs: [
        { name: 'par1', asn: PAR1, vips: VIPS, ranks: 0, extraConfig: snippets.par1 },
        { name: 'lon1', asn: LON1, vips: VIPS, ranks: 0, extraConfig: snippets.lon1 },
      ],
      router: { asn: 65000 },
    });
    for (const dc of ['par1', 'lon1']) {
      cfg[dc] = await writeConfig(
        dir,
        labConfig({
          dc,
          pathspace: lab.lbs[dc]!.pathspace,
          dnsPort: dns.port,
          stateDir: join(dir, `state-${dc}`),
          datacenters: { par1: PAR1, lon1: LON1 },
          services: SERVICES,
        }),
        `${dc}.yaml`,
      );
    }
  });
  after(async () => {
    await lab?.destroy();
    await dns?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const bothPaths = (r: RouterRoute | null) => (r?.paths.length ?? 0) === 2 && r?.best != null;

  test('each VIP is best from its preferred DC, with the other DC present as a longer backup', async (t) => {
    if (!gate(t)) return;
    for (const p of ['192.0.2.10/32', '2001:db8::10/128']) {
      const r = await lab.waitRoute(p, (x) => bothPaths(x) && x!.best!.from === 'par1');
      assert.deepEqual(bestOf(r), { from: 'par1', asPath: [PAR1] }, p);
      assert.deepEqual(pathFrom(r, 'lon1'), [LON1, LON1], `${p}: lon1 is rank 1 for www, one prepend`);
    }
    const api = await lab.waitRoute('192.0.2.20/32', (x) => bothPaths(x) && x!.best!.from === 'lon1');
    assert.deepEqual(bestOf(api), { from: 'lon1', asPath: [LON1] });
    assert.deepEqual(pathFrom(api, 'par1'), [PAR1, PAR1]);
  });

  test('render --check is in sync on both DCs after loading the snippets', async (t) => {
    if (!gate(t)) return;
    for (const dc of ['par1', 'lon1']) {
      const r = await runCli(['-c', cfg[dc]!, 'render', '--check']);
      assert.equal(r.code, 0, `${dc}: ${describeRun(r)}`);
    }
  });

  test('-d in the preferred DC moves the best path to the other DC; -a moves it back', async (t) => {
    if (!gate(t)) return;
    const d = await runCli(['-c', cfg.par1!, '-d', 'www.example.test', '--reason', 'maintenance']);
    assert.equal(d.code, 0, describeRun(d));
    for (const p of ['192.0.2.10/32', '2001:db8::10/128']) {
      const r = await lab.waitRoute(p, (x) => x?.paths.length === 1 && x.best?.from === 'lon1');
      assert.deepEqual(bestOf(r), { from: 'lon1', asPath: [LON1, LON1] }, p);
    }
    // api is untouched: still best from lon1, par1 still its backup
    assert.deepEqual(pathFrom(await lab.routerRoute('192.0.2.20/32'), 'par1'), [PAR1, PAR1]);
    // the held VIPs are out of the snippet: reloading FRR from it cannot undo the drain
    const check = await runCli(['-c', cfg.par1!, 'render', '--check']);
    assert.equal(check.code, 0, `a drained DC is in sync with its snippet: ${describeRun(check)}`);
    const text = await runCli(['-c', cfg.par1!, 'render']);
    assert.match(text.stdout, /^! held for maintenance, left out: network 192\.0\.2\.10\/32 route-map VIP-RANK-0 \(by .*: maintenance\)$/m);
    assert.doesNotMatch(text.stdout, /^\s*network 192\.0\.2\.10\/32/m);

    const a = await runCli(['-c', cfg.par1!, '-a', 'www.example.test']);
    assert.equal(a.code, 0, describeRun(a));
    for (const p of ['192.0.2.10/32', '2001:db8::10/128']) {
      const r = await lab.waitRoute(p, (x) => bothPaths(x) && x!.best!.from === 'par1');
      assert.deepEqual(bestOf(r), { from: 'par1', asPath: [PAR1] }, p);
    }
  });

  test('draining the backup DC leaves the best path where it is', async (t) => {
    if (!gate(t)) return;
    const d = await runCli(['-c', cfg.lon1!, '-d', 'www.example.test']);
    assert.equal(d.code, 0, describeRun(d));
    const r = await lab.waitRoute('192.0.2.10/32', (x) => x?.paths.length === 1);
    assert.deepEqual(bestOf(r), { from: 'par1', asPath: [PAR1] });
    const a = await runCli(['-c', cfg.lon1!, '-a', 'www.example.test']);
    assert.equal(a.code, 0, describeRun(a));
    await lab.waitRoute('192.0.2.10/32', (x) => x?.paths.length === 2);
  });
});
