// Runs INSIDE the IPVS VM (see ../README.md): the whole watchdog stack of a load balancer, as it runs
// in production, in network namespaces of Debian's kernel (stack.mts), plus static ipvsadm services
// beside keepalived's: CLI cycles step by step, then the daemon's failover time.
//
// It records what it observed (exit codes, stdout/stderr, the router's table) in $VM_OUT/result.json
// and asserts nothing itself: watchdog-vm.test.ts checks the record on the host.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CliResult } from '../../cli.ts';
import { createStack, runScenario, RS1, RS2 } from './stack.mts';

const TRIALS = Number(process.env.VM_FAILOVER_TRIALS ?? 20);

// VIPs (TEST-NET-1 / 2001:db8::/32), real servers in TEST-NET-3: documentation ranges only.
export const VIP = {
  web4: '192.0.2.10', // keepalived TCP/80 (NAT, HTTP-checked) + static UDP/53 (DR) + fwmark 7 (TUN)
  web6: '2001:db8::10', // static TCP/443 (DR)
  api: '192.0.2.20', // static TCP/80 and TCP/443 (NAT), announced at rank 1
  held: '192.0.2.30', // healthy, but held for maintenance
  sorry: '192.0.2.40', // only an excluded sorry server behind it
  nosvc: '192.0.2.60', // no IPVS service at all
  disc: '192.0.2.50', // in IPVS, in no service: watched only through discover
} as const;
const SORRY = '203.0.113.99';

interface Step {
  name: string;
  code?: number;
  stdout?: string;
  stderr?: string;
  ms?: number;
  /** the router's view after the step: prefix -> AS path of the best path, or null (no route) */
  router?: Record<string, number[] | null>;
  ipvs?: string;
  extra?: unknown;
}
const steps: Step[] = [];
const result: { steps: Step[]; failover?: { ms: number[]; restoreMs: number[] }; keepalived?: unknown; error?: string; daemon?: unknown } = { steps };

async function main(): Promise<void> {
  const stack = await createStack({
    vips: Object.values(VIP),
    keepalived: [{ vip: VIP.web4, port: 80 }],
    cnames: [['www.vm.test', 'web.vm.test']],
    hosts: [
      ['web.vm.test', VIP.web4],
      ['web.vm.test', VIP.web6],
      ['api.vm.test', VIP.api],
      ['held.vm.test', VIP.held],
      ['sorry.vm.test', VIP.sorry],
      ['nosvc.vm.test', VIP.nosvc],
    ],
  });
  const { lab, inLb, sh, ipvsadm, rs, dir, startHttpd, stopHttpd } = stack;
  const waitWeights = (want: number[]) => stack.keepalived.waitWeights(want);

  // Static services beside keepalived's: UDP (DR), a firewall mark (TUN), IPv6 (DR), two NAT ports,
  // an excluded sorry server, and a VIP no service name lists.
  const static_: string[][] = [
    ['-A', '-u', `${VIP.web4}:53`, '-s', 'rr'],
    ['-a', '-u', `${VIP.web4}:53`, '-r', `${RS1}:53`, '-g', '-w', '1'],
    ['-a', '-u', `${VIP.web4}:53`, '-r', `${RS2}:53`, '-g', '-w', '1'],
    ['-A', '-f', '7', '-s', 'sh'],
    ['-a', '-f', '7', '-r', RS1, '-i', '-w', '1'],
    ['-a', '-f', '7', '-r', RS2, '-i', '-w', '1'],
    ['-A', '-t', `[${VIP.web6}]:443`, '-s', 'wlc'],
    ['-a', '-t', `[${VIP.web6}]:443`, '-r', '[2001:db8:1::1]:443', '-g', '-w', '1'],
    ['-a', '-t', `[${VIP.web6}]:443`, '-r', '[2001:db8:1::2]:443', '-g', '-w', '1'],
    ['-A', '-t', `${VIP.api}:80`, '-s', 'rr'],
    ['-a', '-t', `${VIP.api}:80`, '-r', `${RS1}:8080`, '-m', '-w', '1'],
    ['-a', '-t', `${VIP.api}:80`, '-r', `${RS2}:8080`, '-m', '-w', '1'],
    ['-A', '-t', `${VIP.api}:443`, '-s', 'rr'],
    ['-a', '-t', `${VIP.api}:443`, '-r', `${RS1}:8443`, '-m', '-w', '1'],
    ['-a', '-t', `${VIP.api}:443`, '-r', `${RS2}:8443`, '-m', '-w', '1'],
    ['-A', '-t', `${VIP.held}:80`, '-s', 'rr'],
    ['-a', '-t', `${VIP.held}:80`, '-r', `${RS1}:80`, '-m', '-w', '1'],
    ['-a', '-t', `${VIP.held}:80`, '-r', `${RS2}:80`, '-m', '-w', '1'],
    ['-A', '-t', `${VIP.sorry}:80`, '-s', 'rr'],
    ['-a', '-t', `${VIP.sorry}:80`, '-r', `${SORRY}:80`, '-m', '-w', '1'],
    ['-A', '-t', `${VIP.disc}:80`, '-s', 'rr'],
    ['-a', '-t', `${VIP.disc}:80`, '-r', `${RS1}:80`, '-m', '-w', '1'],
    ['-a', '-t', `${VIP.disc}:80`, '-r', `${RS2}:80`, '-m', '-w', '1'],
  ];
  for (const args of static_) await ipvsadm(...args);
  const weight = (svc: string, real: string, w: number) => ipvsadm('-e', '-t', svc, '-r', real, '-m', '-w', String(w));

  const config = (watchdog: Record<string, unknown>) =>
    stack.config({
      datacenters: { lab1: 64512, lab2: 64513 },
      services: [
        { name: 'www.vm.test', prefer: ['lab1', 'lab2'], min_realservers: 1, restore_realservers: 2 },
        { name: 'api.vm.test', prefer: ['lab2', 'lab1'], min_realservers: 1, restore_realservers: 2 },
        { name: 'held.vm.test', prefer: ['lab1'] },
        { name: 'sorry.vm.test', prefer: ['lab1'] },
        { name: 'nosvc.vm.test', prefer: ['lab1'] },
      ],
      watchdog,
    });
  const stateDir = join(dir, 'state');
  const watchdog = {
    rise: 2,
    fall: 1,
    ipvs: { source: 'proc', path: '/proc/net/ip_vs' },
    fwmarks: { '7': [VIP.web4] },
    exclude_realservers: [SORRY],
    discover: true,
  };
  const cfg = await stack.writeConfig(config(watchdog));
  const badCfg = await stack.writeConfig(config({ ...watchdog, ipvs: { source: 'proc', path: '/proc/net/ip_vs_missing' } }), 'bad.yaml');
  const daemonCfg = await stack.writeConfig(config({ ...watchdog, rise: 1 }), 'daemon.yaml');

  const prefixes = [`${VIP.web4}/32`, `${VIP.web6}/128`, `${VIP.api}/32`, `${VIP.held}/32`, `${VIP.sorry}/32`, `${VIP.nosvc}/32`, `${VIP.disc}/32`];
  // Two vtysh calls for the whole table (each costs about a second under emulation), not one per prefix.
  const routerView = async (): Promise<Record<string, number[] | null>> => {
    const out: Record<string, number[] | null> = {};
    const routes: Record<string, { bestpath?: boolean; path?: string }[]> = {};
    for (const afi of ['ipv4', 'ipv6']) Object.assign(routes, (await lab.router.json<{ routes?: typeof routes }>(`show bgp ${afi} unicast json`)).routes ?? {});
    for (const p of prefixes) {
      const best = routes[p]?.find((x) => x.bestpath);
      out[p] = best ? String(best.path ?? '').split(/\s+/).filter(Boolean).map(Number) : null;
    }
    return out;
  };
  /** BGP needs a moment to carry a change to the router: wait until it shows WANT (or 15 s). */
  const settle = async (want: Partial<Record<string, boolean>>) => {
    for (const [p, present] of Object.entries(want)) await lab.waitRoute(p, (r) => (r?.best != null) === present, 30_000).catch(() => undefined);
  };
  const cli = (args: string[], config = cfg): Promise<CliResult> => stack.cli(args, config);
  const record = async (name: string, r: CliResult, want: Partial<Record<string, boolean>> = {}, extra?: unknown) => {
    await settle(want);
    steps.push({ name, code: r.code, stdout: r.stdout, stderr: r.stderr, ms: Math.round(r.ms), router: await routerView(), ipvs: await sh([...inLb, 'cat', '/proc/net/ip_vs']).catch(() => ''), extra });
  };
  const all = { [`${VIP.web4}/32`]: true, [`${VIP.web6}/128`]: true, [`${VIP.api}/32`]: true, [`${VIP.held}/32`]: true, [`${VIP.disc}/32`]: true };

  // 1-2. Everything healthy, nothing announced yet: rise 2 means the second cycle announces.
  await record('cycle1', await cli(['watchdog', '--json']));
  await record('cycle2', await cli(['watchdog', '--json']), all);
  // 3. An operator drains held.vm.test; the watchdog must not bring it back.
  await record('hold', await cli(['-d', 'held.vm.test', '--reason', 'disk swap', '--json']), { [`${VIP.held}/32`]: false });
  // 4. Nothing changed: the cycle logs nothing.
  await record('quiet', await cli(['watchdog', '--json']));
  // 5. Every real server of api's port 443 at weight 0, port 80 still healthy: withdraw.
  await weight(`${VIP.api}:443`, `${RS1}:8443`, 0);
  await weight(`${VIP.api}:443`, `${RS2}:8443`, 0);
  await record('port-down', await cli(['watchdog', '--json']), { [`${VIP.api}/32`]: false });
  // 6. Recovery: one back (1 < restore 2), both back (rising 1/2), then restored.
  await weight(`${VIP.api}:443`, `${RS1}:8443`, 1);
  await record('recover-one', await cli(['watchdog', '--json']));
  await weight(`${VIP.api}:443`, `${RS2}:8443`, 1);
  await record('recover-rise1', await cli(['watchdog', '--json']));
  await record('recover-rise2', await cli(['watchdog', '--json']), { [`${VIP.api}/32`]: true });
  // 7. Fail static: api would be withdrawn, but the table cannot be read, so nothing changes.
  await weight(`${VIP.api}:443`, `${RS1}:8443`, 0);
  await weight(`${VIP.api}:443`, `${RS2}:8443`, 0);
  const stateBefore = await readFile(join(stateDir, 'state.json'), 'utf8').catch(() => '');
  await record('unreadable', await cli(['watchdog', '--json'], badCfg), {}, { stateBefore, stateAfter: await readFile(join(stateDir, 'state.json'), 'utf8').catch(() => '') });
  await weight(`${VIP.api}:443`, `${RS1}:8443`, 1);
  await weight(`${VIP.api}:443`, `${RS2}:8443`, 1);
  await record('after-unreadable', await cli(['watchdog', '--json']));
  // 8. The stack: stop the HTTP servers; keepalived's checks set their weights to 0; withdraw.
  const tKill = Date.now();
  for (const r of rs) await stopHttpd(r);
  const kaDownMs = await waitWeights([0, 0]);
  await record('http-down', await cli(['watchdog', '--json']), { [`${VIP.web4}/32`]: false }, { kaDownMs, sinceKillMs: Date.now() - tKill });
  rs.forEach(startHttpd);
  const kaUpMs = await waitWeights([1, 1]);
  await record('http-up-rise1', await cli(['watchdog', '--json']), {}, { kaUpMs });
  await record('http-up-rise2', await cli(['watchdog', '--json']), { [`${VIP.web4}/32`]: true });
  await record('status', await cli(['status', '--json']));

  // 9. Daemon mode, --every 1s (rise 1): from the last real server's weight 0 to the route gone
  //    from the router's table, and back. Under software emulation: its own figure.
  const daemon = stack.spawnCli(['watchdog', '--every', '1s'], daemonCfg);
  const routeGone = async (p: string, present: boolean) => {
    const t0 = performance.now();
    for (;;) {
      const r = await lab.routerRoute(p);
      if ((r?.best != null) === present) return performance.now() - t0;
      if (performance.now() - t0 > 30_000) throw new Error(`daemon: ${p} not ${present ? 'back' : 'gone'} after 30 s\n${daemon.stderr()}`);
      await sleep(20);
    }
  };
  await sleep(3000); // let the daemon start and settle
  const fail: number[] = [];
  const back: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    await weight(`${VIP.api}:80`, `${RS1}:8080`, 0);
    await weight(`${VIP.api}:80`, `${RS2}:8080`, 0); // the last live one: the clock starts here
    fail.push(Math.round(await routeGone(`${VIP.api}/32`, false)));
    await weight(`${VIP.api}:80`, `${RS1}:8080`, 1);
    await weight(`${VIP.api}:80`, `${RS2}:8080`, 1);
    back.push(Math.round(await routeGone(`${VIP.api}/32`, true)));
  }
  result.failover = { ms: fail, restoreMs: back };
  result.daemon = { exit: await daemon.stop(), log: daemon.stderr() };
  result.keepalived = { log: stack.keepalived.log };
}

await runScenario(result, main);
