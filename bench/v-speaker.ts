// Bench V: the speaker candidates side by side on the real FRR lab, for the speaker work of one `-d` of 5 VIPs (read the
// running config, apply 5 withdraws in one batch, read back running config + 5 lookups) and its `-a` twin:
//   vtysh       one vtysh process per call (adapters/vtysh.ts; the fallback, and what vip-mgmt did before)
//   session     ONE vtysh process per run, commands on its stdin, an unknown-command marker after each
//               to find where its output ends (vtysh reports no status on stdin; "%" lines only)
//   vty         bgpd's own vty socket (adapters/vty.ts, the default): connect + enable, then round trips
// Timed in this process (Node start is the same for all three), a fresh session/connection per run.
import { spawn } from 'node:child_process';
import { createSpeaker } from '../src/adapters/vtysh.ts';
import { createVtySpeaker } from '../src/adapters/vty.ts';
import { buildApplyCommands, lookupCommand, parseLookupJson, parseRunningConfig, splitProbeAndRunning } from '../src/core/frrconfig.ts';
import type { SpeakerChange } from '../src/core/types.ts';
import { log, median, ms, printTable, qemuNow, withBenchLab } from './lib.ts';

const ASN = 64512;
const VIPS = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::1', '2001:db8::2'];
const PREFIXES = VIPS.map((v) => (v.includes(':') ? `${v}/128` : `${v}/32`));

/** The session candidate: one `vtysh -N PS` for the run, fed on stdin. */
class VtyshSession {
  private out = '';
  private n = 0;
  private waiter: (() => void) | null = null;
  private readonly child;
  constructor(pathspace: string) {
    this.child = spawn('vtysh', ['-N', pathspace], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const take = (d: Buffer) => {
      this.out += d.toString();
      this.waiter?.();
    };
    this.child.stdout.on('data', take);
    this.child.stderr.on('data', take);
  }
  /** Send CMDS, then one marker; resolve with the output up to the marker. */
  async run(cmds: string[]): Promise<string> {
    const mark = `@@vip-mgmt-${++this.n}@@`;
    const end = `% Unknown command: echo ${mark}`;
    this.child.stdin.write(`${cmds.join('\n')}\necho ${mark}\n`);
    for (;;) {
      const i = this.out.indexOf(end);
      if (i >= 0) {
        const text = this.out.slice(0, i);
        this.out = this.out.slice(i + end.length);
        return text;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
  close(): Promise<void> {
    this.child.stdin.end();
    return new Promise((r) => this.child.on('close', () => r()));
  }
}

/** The -d / -a speaker work through a session; throws on any "%" line of an apply command. */
async function viaSession(pathspace: string, changes: SpeakerChange[]): Promise<void> {
  const s = new VtyshSession(pathspace);
  try {
    const pre = await s.run(['show bgp vrfs json', 'show running-config']);
    if (parseRunningConfig(splitProbeAndRunning(pre).running).asn !== ASN) throw new Error('session: no router bgp');
    // one marker per command: stop at the first rejected one, as vtysh -c does
    for (const c of buildApplyCommands('frr', ASN, changes)) {
      const o = await s.run([c]);
      if (/^% (?!Unknown command: echo @@)/m.test(o.split('\n').slice(1).join('\n'))) throw new Error(`session: rejected ${c}: ${o}`);
    }
    const back = await s.run([...PREFIXES.map((p) => lookupCommand('frr', p)), 'show running-config']);
    const { probe, running } = splitProbeAndRunning(back);
    // the echoed prompt lines sit between the JSON answers: keep only the JSON
    parseLookupJson(probe.split('\n').filter((l) => !/^\S+# /.test(l)).join('\n'), PREFIXES);
    parseRunningConfig(running);
  } finally {
    await s.close();
  }
}

export async function benchV(opts: { runs?: number } = {}): Promise<Record<string, number[]>> {
  const runs = opts.runs ?? 20;
  const times: Record<string, number[]> = { vtysh: [], session: [], vty: [] };
  let noisy = 0;
  const lbSpec = { name: 'par1', asn: ASN, vips: VIPS, networks: PREFIXES.map((p): [string, string] => [p, 'VIP-RANK-0']) };
  await withBenchLab({ tag: 'v', lb: lbSpec }, async ({ lb }) => {
    const ps = lb.pathspace;
    const del: SpeakerChange[] = PREFIXES.map((prefix) => ({ action: 'delete', prefix, routeMap: null }));
    const add: SpeakerChange[] = PREFIXES.map((prefix) => ({ action: 'add', prefix, routeMap: 'VIP-RANK-0' }));
    const viaSpeaker = async (sp: ReturnType<typeof createSpeaker>, changes: SpeakerChange[]) => {
      if ((await sp.readRunning()).asn !== ASN) throw new Error('no router bgp');
      await sp.apply(ASN, changes);
      await sp.snapshot!(PREFIXES);
    };
    const candidates: Record<string, (changes: SpeakerChange[]) => Promise<void>> = {
      vtysh: (c) => viaSpeaker(createSpeaker({ dialect: 'frr', vtysh: 'vtysh', pathspace: ps, timeoutMs: 10_000 }), c),
      session: (c) => viaSession(ps, c),
      vty: async (c) => {
        const sp = createVtySpeaker({ pathspace: ps, timeoutMs: 10_000, fallback: async () => { throw new Error('the vty candidate fell back to vtysh'); } });
        await viaSpeaker(sp, c);
      },
    };
    for (const c of Object.values(candidates)) await c(del).then(() => c(add)); // warm-up, and each one works
    for (let i = 0; i < runs; i++) {
      if (qemuNow()) noisy++;
      // interleaved, so that a noisy moment hits all three
      for (const [name, c] of Object.entries(candidates)) {
        // a -d then an -a: each a real change of 5 networks
        for (const changes of [del, add]) {
          const t0 = performance.now();
          await c(changes);
          times[name]!.push(performance.now() - t0);
        }
      }
    }
    log(`V: medians vtysh ${ms(median(times.vtysh!))}, session ${ms(median(times.session!))}, vty ${ms(median(times.vty!))} (${noisy} of ${runs} rounds with qemu)`);
  });
  const base = median(times.vtysh!);
  printTable(
    `V. Speaker work of one -d/-a of 5 VIPs (read, apply 5, read back + 5 lookups), ${runs} rounds interleaved, ${noisy} with qemu running`,
    ['candidate (each -d and -a timed)', 'median', 'min', 'max', 'vs vtysh per call'],
    Object.entries(times).map(([name, xs]) => [name, ms(median(xs)), ms(Math.min(...xs)), ms(Math.max(...xs)), `${(base / median(xs)).toFixed(1)}x faster`]),
  );
  return times;
}
