// Lab: rendered FRR snippets pass FRR's own parser (`vtysh -C -f`), and `vip-mgmt render` end to end against a real dnsmasq.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText, type Config } from '../../src/config/load.ts';
import { buildRenderModel, renderSnippet } from '../../src/core/render.ts';
import type { ResolvedName } from '../../src/core/types.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { describeRun, jsonOf, labConfig, ROOT, runCli, writeConfig } from './cli.ts';
import { createBgpLab, FRR_LAB_COMMANDS } from './frr.ts';
import { missing, requireLab } from './prereq.ts';

const TEMPLATE_DIR = join(ROOT, 'templates');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vip-render-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

let fileNo = 0;
/** FRR's own parser on TEXT; no daemon needed. LC_ALL=C keeps its messages stable. */
async function frrCheck(text: string): Promise<{ code: number; output: string }> {
  const file = join(dir, `snippet-${++fileNo}.conf`);
  await writeFile(file, text);
  return new Promise((res) => {
    execFile('vtysh', ['-C', '-f', file], { env: { ...process.env, LC_ALL: 'C' }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ code, output: `${stdout}${stderr}` });
    });
  });
}

function configOf(yaml: string): Config {
  const { config, problems } = parseConfigText(yaml, join(dir ?? '/tmp', 'config.yaml'));
  assert.deepEqual(problems, []);
  return config!;
}

const r = (name: string, ...addresses: string[]): ResolvedName => ({ name, chain: [], addresses, ttl: 60 });

describe('rendered snippets pass vtysh -C', () => {
  const template = () => readFile(join(TEMPLATE_DIR, 'frr.conf.mustache'), 'utf8');
  // four DCs, services ranked up to 3, base 2: prepends of 2..5, both families, a /32 vip_prefix
  const config = () =>
    configOf(`
dc: par1
vip_prefixes: [192.0.2.0/24, 198.51.100.7/32, 2001:db8::/48, 2001:db8:1::1/128]
datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 }, ams1: { asn: 4200000001 }, fra1: { asn: 64515 } }
prepend: { base: 2 }
services:
  - { name: www.example.test, prefer: [par1, lon1, ams1, fra1] }
  - { name: api.example.test, prefer: [lon1, par1] }
  - { name: v6.example.test, prefer: [fra1, ams1, lon1, par1] }
  - { name: lit.example.test, prefer: [ams1] }
`);
  const resolved = new Map(
    [
      r('www.example.test', '192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2'),
      r('api.example.test', '198.51.100.7', '2001:db8:1::1'),
      r('v6.example.test', '2001:db8::ff'),
      r('lit.example.test', '192.0.2.200'),
    ].map((x) => [x.name, x]),
  );

  for (const dc of ['par1', 'lon1', 'ams1', 'fra1']) {
    test(`dc ${dc}: FRR's parser accepts the snippet`, async (t) => {
      if (!requireLab(t, ['vtysh'])) return;
      const text = renderSnippet(await template(), buildRenderModel(config(), dc, resolved, join(dir, 'config.yaml')));
      const res = await frrCheck(text);
      assert.equal(res.code, 0, `vtysh -C rejected:\n${res.output}\n--- snippet ---\n${text}`);
    });
  }

  test('the largest prepend allowed (16) and IPv6-only configs are accepted too', async (t) => {
    if (!requireLab(t, ['vtysh'])) return;
    const c = configOf(`
dc: a
vip_prefixes: [2001:db8::/32]
datacenters: { a: { asn: 65001 }, b: { asn: 65002 } }
prepend: { base: 15 }
services: [{ name: s.test, prefer: [b, a] }]
`);
    const text = renderSnippet(await template(), buildRenderModel(c, 'a', new Map([['s.test', r('s.test', '2001:db8:ffff::1')]]), 'x'));
    assert.match(text, new RegExp(`set as-path prepend ${Array(16).fill(65001).join(' ')}\n`));
    assert.equal((await frrCheck(text)).code, 0, text);
  });

  test('the check can fail: a broken snippet is rejected', async (t) => {
    if (!requireLab(t, ['vtysh'])) return;
    const good = renderSnippet(await template(), buildRenderModel(config(), 'par1', resolved, 'x'));
    const broken = [
      good.replace('ge 32', 'ge 33'),
      good.replace('  network 2001:db8::1/128', '  network 2001:db8::1/129'),
      // an IPv6 network under the IPv4 address family
      good.replace(/( address-family ipv4 unicast\n)/, '$1  network 2001:db8::1/128 route-map VIP-RANK-0\n'),
    ];
    for (const text of broken) {
      assert.notEqual(text, good, 'the edit applied');
      const res = await frrCheck(text);
      assert.notEqual(res.code, 0, `vtysh -C accepted a broken snippet:\n${text}`);
      assert.match(res.output, /Unknown command/);
    }
  });
});

describe('vip-mgmt render end to end with a real dnsmasq', { concurrency: false }, () => {
  let dns: LabDns | undefined;
  let cfg: string;
  let cfgBroken: string;
  let cfgConflict: string;
  const NEEDS = ['dnsmasq'];

  const base = (port: number, services: unknown[], sub: string) => ({
    dc: 'par1',
    dns: { servers: [`127.0.0.1:${port}`], timeout: '500ms', attempts: 1 },
    vip_prefixes: ['192.0.2.0/24', '2001:db8::/48'],
    datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 } },
    prepend: { base: 1 },
    services,
    state_dir: join(dir, sub, 'state'),
    log: { syslog: false },
  });

  before(async () => {
    if (missing(NEEDS).length > 0) return; // each test skips (or fails in CI) on its own
    dns = await startDnsmasq({
      records: {
        cname: [['www.svc.example.test', 'lb.svc.example.test']],
        hosts: [
          ['lb.svc.example.test', '192.0.2.1', '2001:db8::1'],
          ['api.example.test', '192.0.2.5'],
        ],
      },
    });
    const services = [
      { name: 'www.svc.example.test', prefer: ['par1', 'lon1'] },
      { name: 'api.example.test', prefer: ['lon1', 'par1'] },
    ];
    for (const sub of ['ok', 'broken', 'conflict']) await mkdir(join(dir, sub));
    cfg = await writeConfig(join(dir, 'ok'), base(dns.port, services, 'ok'));
    cfgBroken = await writeConfig(join(dir, 'broken'), base(dns.port, [...services, { name: 'gone.example.test', prefer: ['par1'] }], 'broken'));
    cfgConflict = await writeConfig(join(dir, 'conflict'), base(dns.port, [...services, { name: 'lb.svc.example.test', prefer: ['lon1', 'par1'] }], 'conflict'));
  });
  after(async () => {
    await dns?.stop();
  });

  test('render --dc par1 prints a snippet FRR accepts, with the VIPs behind the CNAME', async (t) => {
    if (!requireLab(t, [...NEEDS, 'vtysh'])) return;
    const res = await runCli(['-c', cfg, 'render', '--dc', 'par1']);
    assert.equal(res.code, 0, describeRun(res));
    assert.match(res.stdout, /^! vip-mgmt: FRR configuration for datacenter par1 \(router bgp 64512\), rendered from .*ok\/config\.yaml$/m);
    assert.match(res.stdout, / address-family ipv4 unicast\n {2}network 192\.0\.2\.1\/32 route-map VIP-RANK-0\n {2}network 192\.0\.2\.5\/32 route-map VIP-RANK-1\n exit-address-family\n/);
    assert.match(res.stdout, / address-family ipv6 unicast\n {2}network 2001:db8::1\/128 route-map VIP-RANK-0\n/);
    assert.match(res.stdout, /route-map VIP-RANK-1 permit 10\n set as-path prepend 64512 64512\n/);
    assert.equal(res.stderr, '', 'nothing on stderr when all is well');
    const check = await frrCheck(res.stdout);
    assert.equal(check.code, 0, check.output);
    const again = await runCli(['-c', cfg, 'render', '--dc', 'par1']);
    assert.equal(again.stdout, res.stdout, 'same bytes on every run');
  });

  test('render --dc lon1 --json: {dc, asn, text, vips}', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const res = await runCli(['-c', cfg, '--json', 'render', '--dc', 'lon1']);
    assert.equal(res.code, 0, describeRun(res));
    const doc = jsonOf(res);
    assert.equal(doc.dc, 'lon1');
    assert.equal(doc.asn, 64513);
    assert.match(doc.text, /router bgp 64513/);
    assert.deepEqual(doc.vips, [
      { vip: '192.0.2.1', prefix: '192.0.2.1/32', service: 'www.svc.example.test', rank: 1, routeMap: 'VIP-RANK-1' },
      { vip: '192.0.2.5', prefix: '192.0.2.5/32', service: 'api.example.test', rank: 0, routeMap: 'VIP-RANK-0' },
      { vip: '2001:db8::1', prefix: '2001:db8::1/128', service: 'www.svc.example.test', rank: 1, routeMap: 'VIP-RANK-1' },
    ]);
  });

  test('a service name that does not resolve: exit 4, naming it', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const res = await runCli(['-c', cfgBroken, 'render']);
    assert.equal(res.code, 4, describeRun(res));
    assert.equal(res.stdout, '', 'no half snippet on stdout');
    assert.match(res.stderr, /gone\.example\.test does not exist \(NXDOMAIN/);
    assert.match(res.stderr, /VIP_E_DNS_NXDOMAIN/);
  });

  test('a VIP claimed by services with different prefer lists: render refuses (5), config check lists it (3)', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const res = await runCli(['-c', cfgConflict, 'render']);
    assert.equal(res.code, 5, describeRun(res));
    assert.match(res.stderr, /services\[2\]\.name: lb\.svc\.example\.test and www\.svc\.example\.test \(services\[0\]\) both resolve to 192\.0\.2\.1, 2001:db8::1/);
    const chk = await runCli(['-c', cfgConflict, 'config', 'check']);
    assert.equal(chk.code, 3, describeRun(chk));
    assert.match(chk.stdout, /services\[2\]\.name: lb\.svc\.example\.test and www\.svc\.example\.test/);
  });

  test('--templates DIR uses the operator template; usage errors exit 2', async (t) => {
    if (!requireLab(t, NEEDS)) return;
    const tdir = join(dir, 'templates');
    await mkdir(tdir, { recursive: true });
    await writeFile(join(tdir, 'frr.conf.mustache'), '{{#vips}}{{prefix}} {{routeMap}}\n{{/vips}}');
    const res = await runCli(['-c', cfg, 'render', '--templates', tdir]);
    assert.equal(res.code, 0, describeRun(res));
    assert.equal(res.stdout, '192.0.2.1/32 VIP-RANK-0\n192.0.2.5/32 VIP-RANK-1\n2001:db8::1/128 VIP-RANK-0\n');
    const unknown = await runCli(['-c', cfg, 'render', '--dc', 'pra1']);
    assert.equal(unknown.code, 2, describeRun(unknown));
    assert.match(unknown.stderr, /unknown datacenter "pra1".*lon1, par1/);
    const other = await runCli(['-c', cfg, 'render', '--dc', 'lon1', '--check']);
    assert.equal(other.code, 2, describeRun(other));
  });
});

describe('render --check against a real FRR speaker', { concurrency: false }, () => {
  const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq'];

  test('in sync right after loading the snippet (0); a stray network is a difference (10), a drain is not', async (t) => {
    if (!requireLab(t, NEEDS, { root: true })) return;
    const sub = join(dir, 'check');
    await mkdir(sub, { recursive: true });
    const dns = await startDnsmasq({
      records: {
        cname: [['www.svc.example.test', 'lb.svc.example.test']],
        hosts: [
          ['lb.svc.example.test', '192.0.2.1', '2001:db8::1'],
          ['api.example.test', '192.0.2.5'],
        ],
      },
    });
    t.after(() => dns.stop());
    const cfgFor = (pathspace: string) =>
      writeConfig(
        sub,
        labConfig({
          dc: 'par1',
          pathspace,
          dnsPort: dns.port,
          stateDir: join(sub, 'state'),
          datacenters: { par1: 64512, lon1: 64513 },
          services: [
            { name: 'www.svc.example.test', prefer: ['par1', 'lon1'] },
            { name: 'api.example.test', prefer: ['lon1', 'par1'] },
          ],
        }),
      );
    // render needs no speaker: the snippet becomes the lb's startup config (no lab route-maps of its own)
    const snippet = await runCli(['-c', await cfgFor(''), 'render']);
    assert.equal(snippet.code, 0, describeRun(snippet));
    const lab = await createBgpLab({ lbs: [{ name: 'par1', asn: 64512, ranks: 0, vips: ['192.0.2.1', '2001:db8::1', '192.0.2.5'], extraConfig: snippet.stdout }] });
    t.after(() => lab.destroy());
    const cfg = await cfgFor(lab.lbs.par1!.pathspace);

    const same = await runCli(['-c', cfg, 'render', '--check']);
    assert.equal(same.code, 0, describeRun(same));
    assert.match(same.stdout, /^in sync/);

    const drain = await runCli(['-c', cfg, '-d', 'www.svc.example.test', '--reason', 'kernel upgrade']);
    assert.equal(drain.code, 0, describeRun(drain));
    await lab.lbs.par1!.vtysh(['configure terminal', 'route-map VIP-RANK-3 permit 10', 'exit', 'router bgp 64512', 'address-family ipv4 unicast', 'network 192.0.2.99/32 route-map VIP-RANK-3', 'end']);
    const diff = await runCli(['-c', cfg, 'render', '--check']);
    assert.equal(diff.code, 10, describeRun(diff));
    assert.match(diff.stdout, /^- route-map VIP-RANK-3 permit 10$/m);
    assert.match(diff.stdout, /^- {3}network 192\.0\.2\.99\/32 route-map VIP-RANK-3$/m);
    // the drained VIPs are held, so the snippet leaves them out: not a difference
    assert.doesNotMatch(diff.stdout, /192\.0\.2\.1\/32|2001:db8::1\/128/);
    const j = jsonOf(await runCli(['-c', cfg, '--json', 'render', '--check']));
    assert.equal(j.inSync, false);
    assert.equal(j.differences.length, 2);
  });
});
