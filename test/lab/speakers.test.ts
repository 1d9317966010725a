// The speaker conformance suite (issue 13): the same commands, exit codes and verification for every bgp.speaker, each run with the real daemon as the LB in a namespace peering with the real FRR router.
//
// One describe per speaker kind in SPEAKERS (frr first: it proves the suite on the known-good
// speaker). A kind is its lab factory (test/lab/speakers/<kind>.ts, how the daemon runs as the LB)
// and what it promises beyond the common contract (`stateless`: keeps no configuration, so a restart
// is healed from vip-mgmt's state by the next watchdog cycle). test/lab/speakers/README.md says how
// to add one.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab, type RouterRoute } from './frr.ts';
import { startDnsmasq, type LabDns } from './dnsmasq.ts';
import { describeRun, jsonOf, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import { ipvsService, ipvsTable, writeIpvsTable } from '../fixtures/ipvs-tables.ts';
import { SPEAKERS } from './speakers/index.ts';

const PAR1 = 64512;
const LON1 = 64513;
const NAME = 'svc.spk.test';
const VIP4 = '192.0.2.80';
const VIP6 = '2001:db8::80';
const P4 = `${VIP4}/32`;
const P6 = `${VIP6}/128`;
// par1 is rank 1 of the service: route-map VIP-RANK-1, one prepend, so the router sees PAR1 twice
const RANK = 1;
const PATH = Array(RANK + 1).fill(PAR1);

interface ChangeJson {
  changes: { prefix: string; action: string; verified: boolean }[];
  errors: { code: string }[];
}
interface StatusJson {
  vips: { prefix: string; announced: boolean; routeMap: string | null; hold: { reason: string } | null; watchdog: string }[];
}

for (const sp of SPEAKERS) {
  const needs = [...FRR_LAB_COMMANDS, 'dnsmasq', ...(sp.factory?.commands ?? [])];

  describe(`speaker conformance: ${sp.kind}`, { concurrency: false }, () => {
    let lab: BgpLab;
    let dns: LabDns;
    let dir: string;
    let cfg: string;
    let table: string;
    const gate = (t: TestContext) => requireLab(t, needs, { root: true });
    const cli = (...args: string[]) => runCli(['-c', cfg, ...args]);
    const setWeights = (w: number[]) => writeIpvsTable(table, ipvsTable([ipvsService(VIP4, w, 80), ipvsService(VIP6, w, 80)]));
    const announcedWith = (path: number[]) => (r: RouterRoute | null) => r?.best != null && r.best.from === 'par1' && JSON.stringify(r.best.asPath) === JSON.stringify(path);
    const gone = (r: RouterRoute | null) => r === null || r.paths.every((p) => p.from !== 'par1');

    before(async () => {
      if (missing(needs, { root: true }).length > 0) return;
      dir = await mkdtemp(join(tmpdir(), `vip-spk-${sp.kind}-`));
      table = join(dir, 'ip_vs');
      await setWeights([1, 1]);
      // a CNAME chain to a name with an A and an AAAA record
      dns = await startDnsmasq({ records: { cname: [[NAME, 'lb.spk.test'], ['lb.spk.test', 'host.spk.test']], hosts: [['host.spk.test', VIP4, VIP6]] }, ttl: 1 });
      lab = await createBgpLab({ lbs: [{ name: 'par1', asn: PAR1, vips: [VIP4, VIP6], daemon: sp.factory }], router: { asn: 65000 } });
      const base = labConfig({
        dc: 'par1',
        pathspace: lab.lbs.par1!.pathspace,
        dnsPort: dns.port,
        stateDir: join(dir, 'state'),
        datacenters: { par1: PAR1, lon1: LON1 },
        services: [{ name: NAME, prefer: ['lon1', 'par1'], min_realservers: 1, restore_realservers: 1 }],
        // rise 2: a restored VIP takes two healthy cycles, so one cycle that brings back what a
        // restarted speaker lost shows the journal at work, not the state machine
        extra: { watchdog: { rise: 2, fall: 1, ipvs: { source: 'proc', path: table } } },
      });
      cfg = await writeConfig(dir, { ...base, bgp: { ...lab.lbs.par1!.speaker.bgp, verify_timeout: '10s' } });
    });
    after(async () => {
      await lab?.destroy();
      await dns?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test('-a of a CNAME-chained name announces its v4 and v6 VIPs with the rank\'s AS path', async (t) => {
      if (!gate(t)) return;
      const r = await cli('-a', NAME, '--json');
      assert.equal(r.code, 0, describeRun(r));
      const j = jsonOf<ChangeJson>(r);
      assert.deepEqual(j.changes.map((c) => `${c.prefix} ${c.action} ${c.verified}`), [`${P4} add true`, `${P6} add true`]);
      await lab.waitRoute(P4, announcedWith(PATH));
      await lab.waitRoute(P6, announcedWith(PATH));
    });

    test('a second -a changes nothing', async (t) => {
      if (!gate(t)) return;
      const r = await cli('-a', NAME, '--json');
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(jsonOf<ChangeJson>(r).changes.map((c) => `${c.prefix} ${c.action} ${c.verified}`), [`${P4} none true`, `${P6} none true`]);
    });

    test('status --json agrees: announced with VIP-RANK-1, no hold', async (t) => {
      if (!gate(t)) return;
      const r = await cli('status', '--json');
      assert.equal(r.code, 0, describeRun(r));
      const rows = jsonOf<StatusJson>(r).vips.map((v) => `${v.prefix} ${v.announced} ${v.routeMap} ${v.hold === null}`);
      assert.deepEqual(rows, [`${P4} true VIP-RANK-${RANK} true`, `${P6} true VIP-RANK-${RANK} true`]);
    });

    const doctorIds = sp.kind === 'frr' ? ['vtysh', 'bgpd'] : [`${sp.kind}-cli`, sp.kind];
    interface DoctorJson {
      checks: { id: string; verdict: string; detail: string }[];
      speakerUnavailable: boolean;
    }
    const check = (d: DoctorJson, id: string) => d.checks.find((c) => c.id === id) ?? assert.fail(`no check ${id}: ${d.checks.map((c) => c.id).join(', ')}`);

    test('doctor: the speaker\'s program, the daemon answering, its AS, route-maps, both sessions Established', async (t) => {
      if (!gate(t)) return;
      // run outside the LB's namespace: the VIPs-on-lo check may fail here, the speaker's must not
      const d = jsonOf<DoctorJson>(await cli('doctor', '--json'));
      assert.equal(d.speakerUnavailable, false);
      for (const id of [...doctorIds, 'asn', 'route-maps', 'neighbor:198.51.100.2', 'neighbor:2001:db8:ffff:1::2']) {
        assert.equal(check(d, id).verdict, 'ok', `${id}: ${JSON.stringify(check(d, id))}`);
      }
      assert.match(check(d, 'neighbor:198.51.100.2').detail, /AS 65000, Established/);
      if (sp.kind === 'bird') assert.match(check(d, 'bird-include').detail, /2 routes; 2 BGP protocols export with vip_mgmt_export/, JSON.stringify(check(d, 'bird-include')));
    });

    test('-d withdraws at the router and sets the hold; status agrees; -a restores', async (t) => {
      if (!gate(t)) return;
      const d = await cli('-d', NAME, '--reason', 'conformance', '--json');
      assert.equal(d.code, 0, describeRun(d));
      assert.deepEqual(jsonOf<ChangeJson>(d).changes.map((c) => `${c.prefix} ${c.action} ${c.verified}`), [`${P4} delete true`, `${P6} delete true`]);
      await lab.waitRoute(P4, gone);
      await lab.waitRoute(P6, gone);
      const s = await cli('status', '--json');
      assert.equal(s.code, 0, describeRun(s));
      assert.deepEqual(
        jsonOf<StatusJson>(s).vips.map((v) => `${v.prefix} ${v.announced} ${v.hold?.reason}`),
        [`${P4} false conformance`, `${P6} false conformance`],
      );
      // the watchdog leaves a held VIP alone, whatever IPVS says
      const w = await cli('watchdog', '--json');
      assert.equal(w.code, 0, describeRun(w));
      assert.ok((await lab.routerRoute(P4)) === null || gone(await lab.routerRoute(P4)));
      const a = await cli('-a', NAME);
      assert.equal(a.code, 0, describeRun(a));
      await lab.waitRoute(P4, announcedWith(PATH));
      await lab.waitRoute(P6, announcedWith(PATH));
    });

    test('the watchdog withdraws on weight-0 real servers and restores when they come back', async (t) => {
      if (!gate(t)) return;
      await setWeights([0, 0]);
      const down = await cli('watchdog', '--json');
      assert.equal(down.code, 0, describeRun(down));
      assert.deepEqual(
        jsonOf<ChangeJson>(down).changes.map((c) => `${c.prefix} ${c.action} ${c.verified}`),
        [`${P4} delete true`, `${P6} delete true`],
      );
      await lab.waitRoute(P4, gone);
      await lab.waitRoute(P6, gone);
      await setWeights([1, 1]);
      const rising = await cli('watchdog', '--json'); // rise 2: the first healthy cycle waits
      assert.equal(rising.code, 0, describeRun(rising));
      assert.deepEqual(jsonOf<ChangeJson>(rising).changes.map((c) => c.action), ['none', 'none']);
      const up = await cli('watchdog', '--json');
      assert.equal(up.code, 0, describeRun(up));
      assert.deepEqual(jsonOf<ChangeJson>(up).changes.map((c) => `${c.prefix} ${c.action} ${c.verified}`), [`${P4} add true`, `${P6} add true`]);
      await lab.waitRoute(P4, announcedWith(PATH));
      await lab.waitRoute(P6, announcedWith(PATH));
    });

    test('the speaker killed: -a, -d, status and the watchdog exit 6', async (t) => {
      if (!gate(t)) return;
      await lab.killBgpd('par1');
      try {
        for (const args of [['-a', NAME], ['-d', NAME, '--reason', 'x'], ['status'], ['watchdog']]) {
          const r = await cli(...args);
          assert.equal(r.code, 6, `${args.join(' ')}: ${describeRun(r)}`);
        }
        const d = await cli('doctor', '--json');
        const dj = jsonOf<DoctorJson>(d);
        assert.equal(dj.speakerUnavailable, true, describeRun(d));
        assert.equal(check(dj, doctorIds[1]!).verdict, 'fail');
      } finally {
        await lab.startBgpd('par1');
        await lab.waitEstablished();
      }
      // the failed -d set its hold before the speaker (state first): -a clears it again
      const a = await cli('-a', NAME);
      assert.equal(a.code, 0, describeRun(a));
      await lab.waitRoute(P4, announcedWith(PATH));
      await lab.waitRoute(P6, announcedWith(PATH));
    });

    if (sp.kind === 'frr') {
      test('frr: a bgpd restart loses an -a of a literal address (its startup config does not have it); the next watchdog cycle re-announces it from state', async (t) => {
        if (!gate(t)) return;
        const lit = '2001:db8::81';
        const L = `${lit}/128`;
        // FRR announces a network only when its prefix is in the RIB: the VIP on the LB's loopback
        execFileSync('ip', ['-n', lab.lbs.par1!.ns, 'addr', 'add', L, 'dev', 'lo']);
        t.after(() => execFileSync('ip', ['-n', lab.lbs.par1!.ns, 'addr', 'del', L, 'dev', 'lo']));
        const a = await cli('-a', lit);
        assert.equal(a.code, 0, describeRun(a));
        await lab.waitRoute(L, announcedWith([PAR1])); // a literal address: rank 0
        await lab.killBgpd('par1');
        await lab.startBgpd('par1');
        await lab.waitEstablished();
        await lab.waitRoute(L, gone);
        const dry = await cli('watchdog', '--dry-run', '--json');
        assert.equal(dry.code, 0, describeRun(dry));
        assert.deepEqual(jsonOf<ChangeJson>(dry).changes.filter((c) => c.prefix === L).map((c) => c.action), ['add']);
        const w = await cli('watchdog', '--json');
        assert.equal(w.code, 0, describeRun(w));
        assert.match(w.stderr, /lost 1 announcement/);
        assert.deepEqual(jsonOf<ChangeJson>(w).changes.filter((c) => c.prefix === L).map((c) => `${c.action} ${c.verified}`), ['add true']);
        await lab.waitRoute(L, announcedWith([PAR1]));
        // the service's VIPs come back through the policy, after rise (2) healthy cycles, as before
        const w2 = await cli('watchdog');
        assert.equal(w2.code, 0, describeRun(w2));
        await lab.waitRoute(P4, announcedWith(PATH));
        const d = await cli('-d', lit, '--reason', 'cleanup');
        assert.equal(d.code, 0, describeRun(d));
        await lab.waitRoute(L, gone);
      });
    }

    if (sp.kind === 'bird') {
      test('bird: render prints the include vip-mgmt wrote, bird -p parses it, render --check is in sync', async (t) => {
        if (!gate(t)) return;
        const include = (lab.lbs.par1!.speaker.bgp as { bird: { include: string } }).bird.include;
        const r = await cli('render');
        assert.equal(r.code, 0, describeRun(r));
        assert.equal(`${r.stdout.replace(/\n$/, '')}\n`, await readFile(include, 'utf8'));
        // the include on its own in a configuration bird -p checks (one protocol of the operator's)
        const conf = join(dir, 'render-check.conf');
        const rendered = join(dir, 'rendered.conf');
        await writeFile(rendered, r.stdout);
        await writeFile(conf, `router id 192.0.2.254;\ninclude "${rendered}";\nprotocol bgp x { local as ${PAR1}; neighbor 198.51.100.9 as 65000; ipv4 { import none; export filter vip_mgmt_export; }; }\n`);
        execFileSync('bird', ['-p', '-c', conf]);
        const c = await cli('render', '--check');
        assert.equal(c.code, 0, describeRun(c));
        assert.match(c.stdout, /in sync/);
      });

      test('bird: a BIRD restart keeps the routes (it reads the include again), no run needed', async (t) => {
        if (!gate(t)) return;
        await lab.killBgpd('par1');
        await lab.startBgpd('par1');
        await lab.waitEstablished();
        await lab.waitRoute(P4, announcedWith(PATH));
        await lab.waitRoute(P6, announcedWith(PATH));
        // advertisedTo is BIRD's own `show route export` answer: one session per family
        const s = await cli('status', '--json');
        const vips = jsonOf<StatusJson & { vips: { advertisedTo: number }[] }>(s).vips;
        assert.deepEqual(vips.map((v) => `${v.prefix} ${v.announced} ${v.routeMap} ${v.advertisedTo}`), [`${P4} true VIP-RANK-${RANK} 1`, `${P6} true VIP-RANK-${RANK} 1`]);
      });

      test('bird: -d --graceful announces with VIP-DRAIN (a longer path, GRACEFUL_SHUTDOWN) until it withdraws; -a restores', async (t) => {
        if (!gate(t)) return;
        // drainPrepends(0, 2 DCs) = 2: the router sees PAR1 three times, with the community
        const drained = (r: RouterRoute | null) =>
          r?.best != null && r.best.from === 'par1' && JSON.stringify(r.best.asPath) === JSON.stringify([PAR1, PAR1, PAR1]) && (r.best.communities ?? []).includes('graceful-shutdown');
        // long enough that the router is seen in the drain stage on a loaded machine; the run ends by itself
        const run = cli('-d', NAME, '--graceful', '20s', '--reason', 'drain');
        await lab.waitRoute(P4, drained, 20_000);
        await lab.waitRoute(P6, drained, 20_000);
        const d = await run;
        assert.equal(d.code, 0, describeRun(d));
        await lab.waitRoute(P4, gone);
        await lab.waitRoute(P6, gone);
        const a = await cli('-a', NAME);
        assert.equal(a.code, 0, describeRun(a));
        await lab.waitRoute(P4, announcedWith(PATH));
        await lab.waitRoute(P6, announcedWith(PATH));
      });

      test('bird: a configure BIRD rejects is exit 1 naming BIRD\'s error; the previous include is back and BIRD keeps announcing', async (t) => {
        if (!gate(t)) return;
        const include = (lab.lbs.par1!.speaker.bgp as { bird: { include: string } }).bird.include;
        const conf = join(dirname(include), 'bird.conf');
        const good = await readFile(conf, 'utf8');
        const before = await readFile(include, 'utf8');
        await writeFile(conf, `${good}this is not bird syntax;\n`);
        try {
          const other = '2001:db8::82';
          const a = await cli('-a', other, '--json');
          assert.equal(a.code, 1, describeRun(a));
          assert.match(a.stderr, /BIRD rejected the new configuration .*syntax error.*the previous .*vip-mgmt\.conf is back in place/);
          assert.equal(await readFile(include, 'utf8'), before);
          await lab.waitRoute(P4, announcedWith(PATH));
          assert.equal(gone(await lab.routerRoute(`${other}/128`)), true);
        } finally {
          await writeFile(conf, good);
        }
        // the failed -a left it in the journal (state first): -d takes it out (last bird test: its hold stays)
        const d = await cli('-d', '2001:db8::82', '--reason', 'cleanup');
        assert.equal(d.code, 0, describeRun(d));
      });
    }

    if (sp.stateless) {
      test('a daemon restart loses every route; the next watchdog cycle re-announces them from state', async (t) => {
        if (!gate(t)) return;
        await lab.waitRoute(P4, announcedWith(PATH));
        await lab.killBgpd('par1');
        await lab.startBgpd('par1');
        await lab.waitEstablished();
        await lab.waitRoute(P4, gone);
        await lab.waitRoute(P6, gone);
        const added = (r: Awaited<ReturnType<typeof cli>>) =>
          jsonOf<ChangeJson>(r)
            .changes.filter((c) => c.action !== 'none')
            .map((c) => `${c.prefix} ${c.action} ${c.verified}`)
            .sort();
        // --dry-run lists the re-announcements it would send, and sends none
        const dry = await cli('watchdog', '--dry-run', '--json');
        assert.equal(dry.code, 0, describeRun(dry));
        assert.deepEqual(added(dry), [`${P4} add false`, `${P6} add false`].sort(), describeRun(dry));
        assert.equal(gone(await lab.routerRoute(P4)) && gone(await lab.routerRoute(P6)), true, 'a dry run announced nothing');
        const w = await cli('watchdog', '--json');
        assert.equal(w.code, 0, describeRun(w));
        assert.match(w.stderr, /lost 2 announcements/);
        assert.deepEqual(added(w), [`${P4} add true`, `${P6} add true`].sort(), 'the re-announcements are changes of the cycle, verified');
        await lab.waitRoute(P4, announcedWith(PATH));
        await lab.waitRoute(P6, announcedWith(PATH));
        const s = await cli('status', '--json');
        assert.deepEqual(jsonOf<StatusJson>(s).vips.map((v) => `${v.prefix} ${v.announced} ${v.routeMap}`), [`${P4} true VIP-RANK-${RANK}`, `${P6} true VIP-RANK-${RANK}`]);
      });

      test('any run heals, not only the watchdog: an -a of another address after a restart brings the lost ones back too', async (t) => {
        if (!gate(t)) return;
        await lab.killBgpd('par1');
        await lab.startBgpd('par1');
        await lab.waitEstablished();
        await lab.waitRoute(P4, gone);
        const other = '2001:db8::81';
        const dry = await cli('-a', other, '--dry-run', '--json');
        assert.equal(dry.code, 0, describeRun(dry));
        assert.deepEqual(
          jsonOf<ChangeJson>(dry).changes.map((c) => `${c.prefix} ${c.action}`),
          [`${other}/128 add`, `${P4} add`, `${P6} add`],
          'a dry run lists the re-announcements it would send too',
        );
        const a = await cli('-a', other, '--json');
        assert.equal(a.code, 0, describeRun(a));
        assert.deepEqual(jsonOf<ChangeJson>(a).changes.map((c) => `${c.prefix} ${c.action} ${c.verified}`), [`${other}/128 add true`]);
        assert.match(a.stderr, /lost 2 announcements/);
        await lab.waitRoute(P4, announcedWith(PATH));
        await lab.waitRoute(P6, announcedWith(PATH));
        await lab.waitRoute(`${other}/128`, announcedWith([PAR1])); // a literal address: rank 0
        const d = await cli('-d', other, '--reason', 'cleanup');
        assert.equal(d.code, 0, describeRun(d));
      });
    }
  });
}
