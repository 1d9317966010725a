// Lab factory: BIRD 2 (Debian bird2) as the LB in its namespace, its control socket in the lab's directory (birdc reaches it from outside the namespace), the include file vip-mgmt owns beside its bird.conf.
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LbDaemon, LbDaemonContext, LbDaemonFactory } from '../frr.ts';
import { killPid, startInNs, until, type NsProcess } from './daemon.ts';

const run = promisify(execFile);

/** The operator's part: BGP sessions exporting with vip-mgmt's filter, the include line (README "BIRD"). */
export function birdConfig(c: LbDaemonContext, include: string): string {
  const session = (name: string, peer: string, local: string, family: string) => `protocol bgp ${name} {
  local ${local} as ${c.asn};
  neighbor ${peer} as ${c.routerAsn};
  # a transient FSM error from the router at start (seen in the lab) must not cost the
  # default 60 s error wait: the lab gives the sessions 30 s
  connect retry time 1;
  error wait time 1, 5;
  debug { states, events };
  ${family} { import all; export filter vip_mgmt_export; };
}
`;
  return `router id ${c.v4};
log "${include}.log" all;
protocol device { scan time 10; }
include "${include}";
${session('router_v4', c.peerV4, c.v4, 'ipv4')}${session('router_v6', c.peerV6, c.v6, 'ipv6')}`;
}

/** Before vip-mgmt's first apply the include must exist and define the filter the sessions name
 *  (an operator ships `vip-mgmt render`'s output; the lab starts from the least that parses). */
export const EMPTY_INCLUDE = 'filter vip_mgmt_export { reject; }\n';

export const birdFactory: LbDaemonFactory = {
  kind: 'bird',
  commands: ['bird', 'birdc'],
  async create(c): Promise<LbDaemon> {
    const include = join(c.dir, 'vip-mgmt.conf');
    await writeFile(include, EMPTY_INCLUDE);
    const conf = join(c.dir, 'bird.conf');
    await writeFile(conf, birdConfig(c, include));
    const sock = join(c.dir, `bird-${c.id}-${c.name}.ctl`);
    c.trackPath(sock);
    const pidfile = join(c.dir, 'bird.pid');
    c.trackPidfile(pidfile);
    const log = join(c.dir, 'bird.log');
    let proc: NsProcess | null = null;
    return {
      bgp: { speaker: 'bird', bird: { birdc: 'birdc', socket: sock, include } },
      async start() {
        await rm(sock, { force: true });
        // -f: in the foreground, so the pid startInNs holds is bird's own
        proc = await startInNs(c.ns, ['bird', '-f', '-c', conf, '-s', sock], { log, pidfile });
        await until(async () => /0013 Daemon is up/.test((await run('birdc', ['-v', '-s', sock, 'show', 'status'], { timeout: 5000 })).stdout), `bird in ${c.ns} did not answer on ${sock}`).catch(async (e) => {
          throw new Error(`${(e as Error).message}\n--- bird.log ---\n${(await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n')}`);
        });
      },
      async kill() {
        await killPid(proc);
        proc = null;
      },
    };
  },
};
