// `vip-mgmt doctor` on a real FRR lb + router pair and a real dnsmasq: a healthy LB passes, and each kind of breakage fails its own check with the fix.
//
// The CLI runs inside the lb's network namespace (`ip netns exec`), as it would on the LB itself:
// the VIPs are on that namespace's lo, which is what the "VIP on a local interface" check must
// see. The root namespace's 127.0.0.1 is not reachable from there, so dnsmasq runs in the lb's
// namespace too, on its own loopback (port 53: the namespace is ours alone).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { describeRun, jsonOf, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab, which } from './prereq.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'dnsmasq'];
const SVC = ['192.0.2.1', '192.0.2.2', '2001:db8::1'];
const DNS_PORT = 53;

/** dnsmasq serving RECORDS on 127.0.0.1:53 inside namespace NS; stop() ends exactly this process. */
async function startNsDnsmasq(ns: string, hosts: [string, ...string[]][]): Promise<{ stop(): Promise<void>; start(): Promise<void> }> {
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    // `ip netns exec` execs the command in place: the child's pid is dnsmasq's
    const c = spawn(
      'ip',
      [
        'netns', 'exec', ns, which('dnsmasq')!,
        '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file=',
        `--port=${DNS_PORT}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--log-facility=-', '--user=root',
        '--local=/example.test/',
        ...hosts.flatMap(([name, ...addrs]) => addrs.map((a) => `--host-record=${name},${a}`)),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    let log = '';
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (d: string) => (log += d));
    // dnsmasq logs "started" once its sockets are bound
    for (let i = 0; i < 100 && !/started, version/.test(log); i++) {
      if (c.exitCode !== null) throw new Error(`dnsmasq in ${ns} exited: ${log}`);
      await sleep(50);
    }
    if (!/started, version/.test(log)) throw new Error(`dnsmasq in ${ns} did not start: ${log}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((res) => c.once('exit', () => res()));
    c.kill('SIGTERM');
    await exited;
  };
  process.on('exit', () => child?.kill('SIGKILL'));
  await start();
  return { start, stop };
}

const IPVS_TABLE = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0000201:0050 rr  
  -> C6336401:0050      Route   1      0          0         
`;

interface Report {
  checks: { id: string; title: string; verdict: 'ok' | 'warn' | 'fail'; detail: string; fix?: string }[];
  ok: boolean;
  speakerUnavailable: boolean;
}

describe('vip-mgmt doctor on real FRR and DNS', { concurrency: false }, () => {
  let lab: BgpLab;
  let dns: Awaited<ReturnType<typeof startNsDnsmasq>>;
  let dir: string;
  let cfg: string;
  let ns: string;

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-doctor-'));
    lab = await createBgpLab({
      lbs: [{ name: 'par1', asn: 64512, vips: SVC, networks: [['192.0.2.1/32', 'VIP-RANK-0'], ['2001:db8::1/128', 'VIP-RANK-0']] }],
      router: { asn: 65000 },
    });
    ns = lab.lbs.par1!.ns;
    dns = await startNsDnsmasq(ns, [['www.svc.example.test', ...SVC]]);
    const ipvs = join(dir, 'ip_vs');
    await writeFile(ipvs, IPVS_TABLE);
    const base = {
      dc: 'par1',
      pathspace: lab.lbs.par1!.pathspace,
      dnsPort: DNS_PORT,
      stateDir: join(dir, 'state'),
      datacenters: { par1: 64512, lon1: 64513 },
      services: [{ name: 'www.svc.example.test', prefer: ['par1', 'lon1'] }],
      extra: { watchdog: { ipvs: { source: 'proc', path: ipvs } } },
    };
    cfg = await writeConfig(dir, labConfig(base));
  });
  after(async () => {
    await dns?.stop();
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const gate = (t: TestContext) => requireLab(t, NEEDS, { root: true });
  const doctor = (...args: string[]) => runCli(['-c', cfg, 'doctor', ...args], { prefix: ['ip', 'netns', 'exec', ns] });
  const byId = (r: Report, id: string) => {
    const c = r.checks.find((x) => x.id === id);
    assert.ok(c, `no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
    return c;
  };

  test('a healthy LB: every check ok (the schedule may warn), exit 0', async (t) => {
    if (!gate(t)) return;
    const r = await doctor('--json');
    assert.equal(r.code, 0, describeRun(r));
    const rep = jsonOf<Report>(r);
    assert.equal(rep.ok, true);
    assert.equal(rep.speakerUnavailable, false);
    for (const id of [
      'config',
      'vtysh',
      'bgpd',
      'asn',
      'route-maps',
      'neighbor:198.51.100.2',
      'neighbor:2001:db8:ffff:1::2',
      `dns-server:127.0.0.1:${DNS_PORT}`,
      'dns:www.svc.example.test',
      'vip-local',
      'ipvs',
      'state-dir',
    ]) {
      assert.equal(byId(rep, id).verdict, 'ok', `${id}: ${JSON.stringify(byId(rep, id))}`);
    }
    assert.match(byId(rep, 'neighbor:198.51.100.2').detail, /AS 65000, Established/);
    assert.equal(byId(rep, 'vip-local').detail, '3 of 3');
    // this machine may or may not run a vip-mgmt watchdog from cron; either way it is not a failure
    assert.notEqual(byId(rep, 'schedule').verdict, 'fail');
    for (const c of rep.checks) if (c.id !== 'schedule') assert.equal(c.verdict, 'ok', JSON.stringify(c));

    const text = await doctor();
    assert.equal(text.code, 0, describeRun(text));
    const lines = text.stdout.trim().split('\n');
    assert.equal(lines.length, rep.checks.length + 1);
    assert.match(lines[0]!, /^ok {3}config valid: /);
    assert.match(lines.at(-1)!, new RegExp(`^${rep.checks.length} checks: \\d+ ok, [01] warnings?, 0 failed$`));
  });

  test('a VIP missing from lo fails with the ip command that fixes it', async (t) => {
    if (!gate(t)) return;
    await lab.lbs.par1!.exec(['ip', 'addr', 'del', '192.0.2.2/32', 'dev', 'lo']);
    try {
      const r = await doctor();
      assert.equal(r.code, 1, describeRun(r));
      assert.match(
        r.stdout,
        /^FAIL VIP 192\.0\.2\.2 on a local interface: 192\.0\.2\.2 \(www\.svc\.example\.test\) is on no local interface: FRR's import check keeps it out of the BGP table, so it is not announced -> fix: ip addr add 192\.0\.2\.2\/32 dev lo/m,
      );
      assert.match(r.stdout, /^ok {3}VIPs on a local interface: 2 of 3 \(missing ones below\)$/m);
      assert.doesNotMatch(r.stdout, /VIP 192\.0\.2\.1 /);
    } finally {
      await lab.lbs.par1!.exec(['ip', 'addr', 'add', '192.0.2.2/32', 'dev', 'lo']);
    }
  });

  test('a neighbor that is down fails with where to look; back up, it is ok again', async (t) => {
    if (!gate(t)) return;
    const lb = lab.lbs.par1!;
    const sessionState = async () => (await lb.json<any>('show bgp summary json')).ipv4Unicast?.peers?.[lb.peerV4]?.state as string | undefined;
    await lab.router.vtysh(['configure terminal', 'router bgp 65000', `neighbor ${lb.v4} shutdown`, 'end']);
    try {
      for (let i = 0; i < 100 && (await sessionState()) === 'Established'; i++) await sleep(100);
      const r = await doctor('--json');
      assert.equal(r.code, 1, describeRun(r));
      const n = byId(jsonOf<Report>(r), `neighbor:${lb.peerV4}`);
      assert.equal(n.verdict, 'fail', JSON.stringify(n));
      assert.match(n.detail, /^AS 65000, (Idle|Active|Connect|OpenSent|OpenConfirm)\b.*routes are not exchanged/);
      assert.match(n.fix!, new RegExp(`ping ${lb.peerV4.replace(/\./g, '\\.')}`));
      assert.equal(byId(jsonOf<Report>(r), `neighbor:${lb.peerV6}`).verdict, 'ok');
    } finally {
      await lab.router.vtysh(['configure terminal', 'router bgp 65000', `no neighbor ${lb.v4} shutdown`, 'end']);
    }
    await lab.waitEstablished();
    for (let i = 0; i < 100 && (await sessionState()) !== 'Established'; i++) await sleep(100);
    const again = await doctor('--json');
    assert.equal(again.code, 0, describeRun(again));
  });

  test('wrong ASN and a route-map the services need but FRR lacks: both fail', async (t) => {
    if (!gate(t)) return;
    const other = await writeConfig(
      dir,
      labConfig({
        dc: 'par1',
        pathspace: lab.lbs.par1!.pathspace,
        dnsPort: DNS_PORT,
        stateDir: join(dir, 'state'),
        datacenters: { par1: 64599, lon1: 64513, ams1: 64514, fra1: 64515, mad1: 64516 },
        // par1 ranks fifth: VIP-RANK-4 (the lab defines VIP-RANK-0..3)
        services: [{ name: 'www.svc.example.test', prefer: ['lon1', 'ams1', 'fra1', 'mad1', 'par1'] }],
        extra: { watchdog: { ipvs: { source: 'proc', path: join(dir, 'ip_vs') } } },
      }),
      'other.yaml',
    );
    const r = await runCli(['-c', other, 'doctor', '--json'], { prefix: ['ip', 'netns', 'exec', ns] });
    assert.equal(r.code, 1, describeRun(r));
    const rep = jsonOf<Report>(r);
    assert.equal(byId(rep, 'asn').verdict, 'fail');
    assert.match(byId(rep, 'asn').detail, /router bgp 64512, the config says datacenters\.par1\.asn: 64599/);
    assert.equal(byId(rep, 'route-maps').verdict, 'fail');
    assert.match(byId(rep, 'route-maps').detail, /missing VIP-RANK-4 \(used by www\.svc\.example\.test\)/);
  });

  test('an invalid config: one FAIL line, exit 3', async (t) => {
    if (!gate(t)) return;
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'dc: par1\nbogus: 1\n');
    const r = await runCli(['-c', bad, 'doctor']);
    assert.equal(r.code, 3, describeRun(r));
    assert.match(r.stdout, /^FAIL config valid: /);
    assert.match(r.stdout, /the config does not load, nothing else was checked$/m);
  });

  test('DNS server stopped: the server check and the name check fail, exit 1', async (t) => {
    if (!gate(t)) return;
    await dns.stop();
    try {
      const r = await doctor('--json');
      assert.equal(r.code, 1, describeRun(r));
      const rep = jsonOf<Report>(r);
      const server = byId(rep, `dns-server:127.0.0.1:${DNS_PORT}`);
      assert.equal(server.verdict, 'fail');
      assert.equal(server.detail, 'no answer for www.svc.example.test');
      assert.match(server.fix!, /check that the server runs/);
      assert.equal(byId(rep, 'dns:www.svc.example.test').verdict, 'fail');
      assert.equal(byId(rep, 'bgpd').verdict, 'ok'); // the other checks still ran
    } finally {
      await dns.start();
    }
  });

  test('bgpd killed: the bgpd check fails with how to start it, the BGP checks that need it are left out, exit 1', async (t) => {
    if (!gate(t)) return;
    await lab.killBgpd('par1');
    const r = await doctor();
    assert.equal(r.code, 1, describeRun(r));
    const ps = lab.lbs.par1!.pathspace;
    assert.match(r.stdout, new RegExp(`^FAIL bgpd answering: bgpd is not running in pathspace ${ps} -> fix: start it with systemctl start frr@${ps}`, 'm'));
    assert.doesNotMatch(r.stdout, /router bgp matches|route-maps present|neighbor /);
    assert.match(r.stdout, /the BGP speaker is unavailable, so neighbors, router bgp and route-maps were not checked$/m);
    const j = jsonOf<Report>(await doctor('--json'));
    assert.equal(j.speakerUnavailable, true);
    assert.equal(j.ok, false);
  });
});
