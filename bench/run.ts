// Benchmark entry point: `npm run bench` runs sections A-F, H, N, S and V; `npm run bench -- A C` runs only those.
//
// Needs root, FRR (zebra, bgpd, vtysh), dnsmasq and a built dist/ (npm run bench builds it first).
// Every section builds its own lab (network namespaces, FRR daemons, dnsmasq) and tears it down.
import { benchA } from './a-announce.ts';
import { benchB } from './b-delete.ts';
import { benchC } from './c-watchdog.ts';
import { benchD } from './d-failover.ts';
import { benchE } from './e-speakers.ts';
import { benchF } from './f-fleet.ts';
import { benchN } from './n-now.ts';
import { benchS } from './s-startup.ts';
import { benchH } from './h-checks.ts';
import { benchV } from './v-speaker.ts';
import { execFile } from 'node:child_process';
import { log, printMachine } from './lib.ts';

const SECTIONS: Record<string, () => Promise<unknown>> = {
  A: () => benchA(),
  B: () => benchB(),
  C: () => benchC(),
  D: () => benchD(),
  E: () => benchE(),
  F: () => benchF(),
  N: () => benchN(),
  S: () => benchS(),
  H: () => benchH(),
  V: () => benchV(),
};

/** Samples `pgrep qemu` every 2 s: the fraction of samples that saw one, e.g. "0/45 samples". */
function qemuSampler(): { stop(): string } {
  let seen = 0;
  let total = 0;
  const t = setInterval(() => {
    execFile('pgrep', ['qemu'], (err) => {
      total++;
      if (!err) seen++;
    });
  }, 2000);
  return {
    stop() {
      clearInterval(t);
      return `${seen}/${total} samples`;
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const wanted = argv.length === 0 ? Object.keys(SECTIONS) : argv.map((a) => a.toUpperCase());
  const unknown = wanted.filter((s) => !(s in SECTIONS));
  if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}: choose from ${Object.keys(SECTIONS).join(' ')}`);
  if (process.getuid?.() !== 0) throw new Error('the benchmarks build network namespaces and start FRR: run them as root');
  printMachine();
  for (const s of wanted) {
    log(`section ${s}`);
    const q = qemuSampler();
    try {
      await SECTIONS[s]!();
    } finally {
      // stopped on failure too: a live interval would keep a failed run from exiting
      log(`section ${s}: a qemu process was running in ${q.stop()} (another job competing for the 2 cores skews every number)`);
    }
  }
  printMachine();
}

// Ctrl-C or kill: exit normally, so that the lab harness's exit hooks kill the FRR daemons and
// dnsmasq and delete the namespaces (a signal's default action would skip them).
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 1;
});
