// Lab helpers for running the built vip-mgmt command the way an operator does, with a config written for a lab.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'vip-mgmt');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run bin/vip-mgmt (the built dist/) with argv; never throws on a non-zero exit. */
export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; prefix?: string[] } = {}): Promise<CliResult> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  const argv = [...(opts.prefix ?? []), process.execPath, BIN, ...args];
  const t0 = performance.now();
  return new Promise((res) => {
    execFile(argv[0]!, argv.slice(1), { env: { ...process.env, NO_COLOR: '1', ...opts.env }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      res({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Parse stdout as JSON, with the whole run in the message when it is not. */
export function jsonOf<T = any>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code})\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  }
}

export function describeRun(r: CliResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

export interface LabConfig {
  dc: string;
  pathspace: string;
  dnsPort: number;
  stateDir: string;
  datacenters: Record<string, number>;
  services?: { name: string; prefer: string[]; min_realservers?: number; restore_realservers?: number }[];
  vipPrefixes?: string[];
  extra?: Record<string, unknown>;
}

export function labConfig(c: LabConfig): Record<string, unknown> {
  return {
    dc: c.dc,
    bgp: { speaker: 'frr', vtysh: 'vtysh', pathspace: c.pathspace, verify_timeout: '5s' },
    dns: { servers: [`127.0.0.1:${c.dnsPort}`], timeout: '500ms', attempts: 1 },
    vip_prefixes: c.vipPrefixes ?? ['192.0.2.0/24', '2001:db8::/48'],
    datacenters: Object.fromEntries(Object.entries(c.datacenters).map(([k, asn]) => [k, { asn }])),
    prepend: { base: 0 },
    services: c.services ?? [],
    state_dir: c.stateDir,
    log: { syslog: false, tag: 'vip-mgmt', level: 'info' },
    ...c.extra,
  };
}

/** Write a config file and return its path. */
export async function writeConfig(dir: string, config: Record<string, unknown>, name = 'config.yaml'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, stringify(config));
  return path;
}
