// Lab factory: ExaBGP 4 (Debian exabgp) as the LB in its namespace, its CLI named pipes /run/exabgp/<unique>.{in,out} made first (DESIGN "More labs (v2)").
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LbDaemon, LbDaemonContext, LbDaemonFactory } from '../frr.ts';
import { killPid, startInNs, until, type NsProcess } from './daemon.ts';

const run = promisify(execFile);
export const EXABGP_PIPE_DIR = '/run/exabgp';

function exabgpConfig(c: LbDaemonContext): string {
  const neighbor = (peer: string, local: string, family: string) => `neighbor ${peer} {
  router-id ${c.v4};
  local-address ${local};
  local-as ${c.asn};
  peer-as ${c.routerAsn};
  family { ${family} unicast; }
}
`;
  return neighbor(c.peerV4, c.v4, 'ipv4') + neighbor(c.peerV6, c.v6, 'ipv6');
}

export const exabgpFactory: LbDaemonFactory = {
  kind: 'exabgp',
  commands: ['exabgp', 'exabgpcli', 'mkfifo'],
  async create(c): Promise<LbDaemon> {
    const pipename = `vipl-${c.id}-${c.name}`;
    const conf = join(c.dir, 'exabgp.conf');
    await writeFile(conf, exabgpConfig(c));
    await mkdir(EXABGP_PIPE_DIR, { recursive: true });
    for (const end of ['in', 'out']) {
      const p = join(EXABGP_PIPE_DIR, `${pipename}.${end}`);
      await rm(p, { force: true });
      await run('mkfifo', ['-m', '600', p]);
      c.trackPath(p);
    }
    const pidfile = join(c.dir, 'exabgp.pid');
    c.trackPidfile(pidfile);
    const env = { exabgp_api_pipename: pipename, exabgp_daemon_user: 'root', exabgp_daemon_daemonize: 'false', exabgp_log_destination: 'stdout' };
    let proc: NsProcess | null = null;
    const cli = (args: string[]) => run('exabgpcli', args, { env: { ...process.env, exabgp_api_pipename: pipename }, timeout: 10_000 });
    return {
      bgp: { speaker: 'exabgp', exabgp: { cli: 'exabgpcli', pipename } },
      async start() {
        proc = await startInNs(c.ns, ['exabgp', conf], { env, log: join(c.dir, 'exabgp.log'), pidfile });
        const log = join(c.dir, 'exabgp.log');
        await until(async () => /^Peer\s/m.test((await cli(['show', 'neighbor', 'summary'])).stdout), `exabgp in ${c.ns} did not answer its CLI`).catch(async (e) => {
          throw new Error(`${(e as Error).message}\n--- exabgp.log ---\n${(await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n')}`);
        });
      },
      async kill() {
        await killPid(proc);
        proc = null;
      },
    };
  },
};
