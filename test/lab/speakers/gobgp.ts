// Lab factory: GoBGP 3 (Debian gobgpd) as the LB in its namespace, its gRPC API on a unix socket of its own (vip-mgmt runs outside the namespace, as vtysh reaches FRR's sockets; a TCP API would need an interface in the host's namespace).
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LbDaemon, LbDaemonContext, LbDaemonFactory } from '../frr.ts';
import { killPid, startInNs, until, type NsProcess } from './daemon.ts';

const run = promisify(execFile);

function gobgpConfig(c: LbDaemonContext): string {
  const neighbor = (peer: string, local: string, family: string) => `
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${peer}"
    peer-as = ${c.routerAsn}
  [neighbors.transport.config]
    local-address = "${local}"
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "${family}-unicast"
`;
  // DESIGN "More labs (v2)": without accept-route as the default export policy nothing is sent
  return `[global.config]
  as = ${c.asn}
  router-id = "${c.v4}"
[global.apply-policy.config]
  default-export-policy = "accept-route"
${neighbor(c.peerV4, c.v4, 'ipv4')}${neighbor(c.peerV6, c.v6, 'ipv6')}`;
}

export const gobgpFactory: LbDaemonFactory = {
  kind: 'gobgp',
  commands: ['gobgpd', 'gobgp'],
  async create(c): Promise<LbDaemon> {
    const conf = join(c.dir, 'gobgpd.toml');
    await writeFile(conf, gobgpConfig(c));
    const sock = join(c.dir, 'gobgp-api.sock');
    c.trackPath(sock);
    const api = `unix://${sock}`;
    const pidfile = join(c.dir, 'gobgpd.pid');
    c.trackPidfile(pidfile);
    const log = join(c.dir, 'gobgpd.log');
    let proc: NsProcess | null = null;
    return {
      bgp: { speaker: 'gobgp', gobgp: { cli: 'gobgp', api } },
      async start() {
        // a SIGKILLed gobgpd leaves its socket behind, and a new one cannot bind over it
        await rm(sock, { force: true });
        proc = await startInNs(c.ns, ['gobgpd', '-f', conf, '--api-hosts', api, '--pprof-disable', '-p', '-l', 'warn'], { log, pidfile });
        await until(async () => /"asn"/.test((await run('gobgp', ['--target', api, 'global', '-j'], { timeout: 5000 })).stdout), `gobgpd in ${c.ns} did not answer on ${api}`).catch(async (e) => {
          throw new Error(`${(e as Error).message}\n--- gobgpd.log ---\n${(await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n')}`);
        });
      },
      async kill() {
        await killPid(proc);
        proc = null;
      },
    };
  },
};
