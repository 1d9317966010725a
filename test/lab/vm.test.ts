// Lab test: the IPVS VM boots, its kernel has IPVS, and the ipvs adapter reads a real table inside it (one boot).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireLab } from './prereq.ts';
import { requireVm, runInVm, VM_COMMANDS } from './vm/index.ts';

// Everything is checked from ONE boot: each costs ~10 s under tcg (plus node+tsx start-up inside).
// The script records what it sees in $VM_OUT; the assertions run here on the host.
const probe = `.vip-lab-write-probe-${process.pid}`;
const script = String.raw`
set -u
exec 2>&1
cd "$LAB_CWD"
o=$VM_OUT

# The harness itself: a read-only 9p root under a writable overlay, a fresh /run for netns.
grep -E ' (/|/run/vip-lab) ' /proc/mounts >"$o/mounts"
uname -r >"$o/uname"
echo probe >"${probe}" && echo written >"$o/overlay-write"
ip netns add viplab && ip netns exec viplab cat /proc/net/ip_vs >"$o/netns-ip_vs" && ip netns del viplab
for c in node ipvsadm vtysh keepalived dnsmasq /usr/lib/frr/zebra /usr/lib/frr/bgpd; do
  command -v "$c" >/dev/null && echo "$c" >>"$o/found"
done

# A real table: several ports, a weight-0 real server, a firewall mark, IPv6.
ipvsadm -A -t 192.0.2.10:80 -s rr
ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.1:80 -g -w 1
ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 0
ipvsadm -A -u 192.0.2.10:53 -s rr
ipvsadm -a -u 192.0.2.10:53 -r 198.51.100.1:53 -m -w 1
ipvsadm -A -f 7 -s sh
ipvsadm -a -f 7 -r 198.51.100.3:0 -g -w 1
ipvsadm -A -t [2001:db8::10]:443 -s wlc
ipvsadm -a -t [2001:db8::10]:443 -r [2001:db8:1::1]:443 -g -w 5
test -e /proc/net/ip_vs && echo yes >"$o/proc-exists"
cp /proc/net/ip_vs "$o/ip_vs"

# The adapter, run by node inside the VM against this checkout, both sources.
cat >/tmp/read.mts <<'EOF'
import { createIpvsReader } from '${process.cwd()}/src/adapters/ipvs.ts';
import { liveCounts } from '${process.cwd()}/src/core/live.ts';
const out: Record<string, unknown> = {};
for (const source of ['proc', 'ipvsadm'] as const) {
  const table = await createIpvsReader({ source }).read();
  const live = liveCounts(table, ['192.0.2.10', '2001:db8::10'], { fwmarks: { '7': ['192.0.2.10'] }, exclude: [] });
  out[source] = { table, live: Object.fromEntries(live) };
}
try {
  await createIpvsReader({ source: 'proc', path: '/proc/net/ip_vs_nonexistent' }).read();
} catch (e) {
  out.error = { code: (e as { code: string }).code, message: (e as Error).message };
}
console.log(JSON.stringify(out));
EOF
node --import tsx /tmp/read.mts >"$o/adapter.json"
echo "adapter exit $?"
`;

test('IPVS lab VM: real IPVS inside, the adapter reads it, the host stays untouched', { timeout: 600_000 }, async (t) => {
  if (!requireLab(t, VM_COMMANDS, { root: true })) return;
  if (!(await requireVm(t))) return;

  const r = await runInVm(script);
  t.after(() => r.cleanup());
  t.diagnostic(`boot to script ${r.bootMs} ms, whole run ${r.durationMs} ms`);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /adapter exit 0/);
  const out = (name: string): Promise<string> => readFile(join(r.outDir, name), 'utf8');

  // The VM runs Debian's kernel on a read-only view of this machine.
  assert.match(await out('uname'), /^6\.\d+\.\d+-\d+-amd64$/m);
  const mounts = await out('mounts');
  assert.match(mounts, /^overlay \/ overlay /m);
  assert.match(mounts, /^labio \/run\/vip-lab 9p rw/m);
  assert.equal(await out('overlay-write'), 'written\n');
  assert.ok(!existsSync(join(process.cwd(), probe)), 'a write inside the VM must not reach the host');
  assert.deepEqual((await out('found')).trim().split('\n'), [
    'node', 'ipvsadm', 'vtysh', 'keepalived', 'dnsmasq', '/usr/lib/frr/zebra', '/usr/lib/frr/bgpd',
  ]);
  // IPVS tables are per network namespace: a fresh one is empty.
  assert.equal((await out('netns-ip_vs')).trim().split('\n').length, 3);

  assert.equal(await out('proc-exists'), 'yes\n');
  assert.match(await out('ip_vs'), /^TCP {2}C000020A:0050 rr/m);

  const result = JSON.parse(await out('adapter.json')) as Record<string, { table: { services: unknown[]; warnings: string[] }; live: unknown }> & {
    error: { code: string; message: string };
  };
  for (const source of ['proc', 'ipvsadm']) {
    const { table, live } = result[source]!;
    assert.deepEqual(table.warnings, [], source);
    assert.equal(table.services.length, 4, source);
    // 192.0.2.10: tcp/80 has one live (the other has weight 0), udp/53 one, fwm 7 one.
    assert.deepEqual(live, { '192.0.2.10': { live: 1, services: 3 }, '2001:db8::10': { live: 1, services: 1 } }, source);
  }
  assert.equal(result.error.code, 'VIP_E_IPVS_UNREADABLE');
  assert.match(result.error.message, /is the ip_vs module loaded\?/);
});
