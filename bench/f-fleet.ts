// F: fleet mode at scale. 200 simulated hosts x 1,000 VIPs publishing to a real 3-member etcd (test/lab/etcd.ts):
// etcd write volume per publish cycle, `status --fleet` time, fleet hold propagation to 200 watches.
//
// The simulation runs inside the etcd lab's management namespace (bench/f-fleet-sim.ts), where the
// members' addresses are; its numbers come back as one JSON line.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createEtcdLab } from '../test/lab/etcd.ts';
import { ROOT } from '../test/lab/cli.ts';
import { log, ms, printTable } from './lib.ts';

const run = promisify(execFile);

export async function benchF(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vip-bench-f-'));
  const etcd = await createEtcdLab({ records: [['www.example.test', '192.0.2.1']] });
  try {
    await mkdir(join(dir, 'state'), { mode: 0o700 });
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      stringify({
        dc: 'par1',
        vip_prefixes: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/48'],
        datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 }, fra1: { asn: 64514 }, ams1: { asn: 64515 } },
        state_dir: join(dir, 'state'),
        log: { syslog: false },
        fleet: { host: 'bench', etcd: { endpoints: etcd.endpoints, timeout: '10s' } },
      }),
    );
    log('F: simulated hosts publishing, then status --fleet, then hold propagation');
    const r = await run('ip', ['netns', 'exec', etcd.ns, process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'f-fleet-sim.ts'), config, ...etcd.endpoints], { cwd: ROOT, maxBuffer: 64 << 20, env: process.env });
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    const kb = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
    const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    printTable(`F. fleet mode, ${res.hosts} hosts x ${res.vips} VIPs, 3-member etcd 3.4 (heartbeat 50 ms, election 500 ms), one machine`, ['measure', 'value'], [
      ['host record (one key, JSON)', kb(res.recordBytes)],
      ['first cycle (new leases, every record written): payload / WAL bytes, sum of 3 members / time', `${mb(res.payloadBytes)} / ${mb(res.walFirst)} / ${ms(res.cycleMs)}`],
      ['cycle with nothing changed (keepalive + seen key): payload / WAL / time', `${kb(res.payloadSteady)} / ${mb(res.walSteady)} / ${ms(res.cycle2Ms)}`],
      ['cycle with every record changed: payload / WAL / time', `${mb(res.payloadChanged)} / ${mb(res.walChanged)} / ${ms(res.cycle3Ms)}`],
      [`one host publish, p50 / p99, ${res.hosts} at once (first cycle)`, `${ms(res.publishP50)} / ${ms(res.publishP99)}`],
      [`one host publish, p50 / p99, ${res.hosts} at once (nothing changed)`, `${ms(res.publishSteadyP50)} / ${ms(res.publishSteadyP99)}`],
      ['the last-DC guard of a cycle planning a health-driven withdrawal: its intent written, every record read, the intent revoked; median of 5', ms(res.guardReadMs)],
      ['status --fleet (text), median of 5, Node start included', `${ms(med(res.statusMs.text))} (${res.statusLines} lines, ${kb(res.statusBytes.text)})`],
      ['status --fleet --json, median of 5', `${ms(med(res.statusMs.json))} (${mb(res.statusBytes.json)})`],
      [`fleet hold propagation to ${res.hosts} watches, p50 / p99 / max (${res.propagation.samples}/${res.propagation.expected} events)`, `${ms(res.propagation.p50)} / ${ms(res.propagation.p99)} / ${ms(res.propagation.max)}`],
    ]);
  } finally {
    await etcd.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}
