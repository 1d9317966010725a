#!/usr/bin/env node
// Writes dist/bundle/vip-mgmt.cjs.cache, the V8 code cache bin/load.cjs hands to the bundle: loads
// the bundle as bin/vip-mgmt does, runs the commands' common paths once in this process against a
// scratch config (no speaker, no DNS server, an IPVS table file: each run ends in its own error or
// plan, which is enough to compile its code), then asks V8 for everything it compiled, behind a
// header holding the SHA-256 of the bundle's text. Run by scripts/bundle.mjs after each build.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import load from '../bin/load.cjs';

const { CACHE, digest, loadBundle } = load;

const dir = mkdtempSync(join(tmpdir(), 'vip-mgmt-code-cache-'));
try {
  const state = join(dir, 'state');
  const ipvs = join(dir, 'ip_vs');
  const config = join(dir, 'config.yaml');
  // one VIP with two live real servers (the /proc/net/ip_vs format, addresses in hex)
  writeFileSync(ipvs, [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port Forward Weight ActiveConn InActConn',
    'TCP  C0000215:0050 rr',
    '  -> C6336401:0050      Route   1      0          0',
    '  -> C6336402:0050      Route   1      0          0',
    '',
  ].join('\n'));
  writeFileSync(config, [
    'dc: par1',
    // a pathspace no FRR runs in: the speaker fails at once, after its code has run
    `bgp: { speaker: frr, pathspace: vipmgmt-code-cache-${process.pid}, timeout: 1s, verify_timeout: 1s }`,
    // the discard port: the question is sent, the answer never comes
    'dns: { servers: ["127.0.0.1:9"], timeout: 50ms, attempts: 1 }',
    'vip_prefixes: [192.0.2.0/24, "2001:db8::/48"]',
    'datacenters: { par1: { asn: 64512 }, lon1: { asn: 64513 } }',
    'services: [{ name: www.example.test, prefer: [par1, lon1] }]',
    `state_dir: ${state}`,
    `watchdog: { ipvs: { source: proc, path: ${ipvs} } }`,
    'log: { syslog: false }',
    '',
  ].join('\n'));
  // its own config cache (src/config/file.ts): the commands below run both its miss and its hit path
  process.env.VIP_MGMT_CACHE_DIR = join(dir, 'cache');
  const { exports, script, text } = loadBundle({ useCache: false });
  const runs = [
    ['--help'],
    ['--version'],
    ['-c', config, 'config', 'check'],
    ['-c', config, 'render', '--dc', 'par1'],
    ['-c', config, 'cron'],
    ['-c', config, '-d', '192.0.2.21', '--reason', 'code cache'],
    ['-c', config, '-a', '192.0.2.21', '--dry-run'],
    ['-c', config, '-d', 'www.example.test'],
    ['-c', config, 'status', '--json'],
    ['-c', config, 'watchdog'],
    ['-c', config, 'watchdog'],
  ];
  // the commands' output is not wanted here; errors (the speaker's, DNS's) are expected
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = process.stderr.write = () => true;
  try {
    for (const args of runs) {
      try {
        await exports.main([process.execPath, 'vip-mgmt', ...args]);
      } catch {
        // a command's failure still compiled its path
      }
    }
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    process.exitCode = 0;
  }
  const data = script.createCachedData();
  writeFileSync(CACHE, Buffer.concat([digest(text), data]));
  chmodSync(CACHE, 0o644);
  console.log(`code cache: ${CACHE} (${(data.length / 1024).toFixed(0)} KiB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
