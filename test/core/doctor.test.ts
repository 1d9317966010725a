// Unit tests: doctor's verdicts and fixes from observations, the BGP summary parsers on real FRR output, exit code, text and --json shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  birdIncludeCheck,
  asnCheck,
  bgpdCheck,
  cronNameRuns,
  dnsServerCheck,
  doctorExit,
  formatCheck,
  formatReport,
  ipvsCheck,
  mentionsWatchdog,
  neededRouteMaps,
  neighborChecks,
  parseBgpSummaryJson,
  parseBgpSummaryText,
  reportJson,
  routeMapCheck,
  scheduleCheck,
  serviceDnsCheck,
  splitFix,
  stateDirCheck,
  vipLocalChecks,
  vipsToHold,
  vtyshCheck,
  type Check,
} from '../../src/core/doctor.ts';
import type { RunningBgp } from '../../src/core/types.ts';

// Captured from FRR 8.4.4 (Debian 12) on the lab of test/lab/frr.ts: lb par1 (AS 64512) peered
// with the router over IPv4 and IPv6, plus `neighbor 198.51.100.77 remote-as 65001` (no peer
// there) and `neighbor 198.51.100.78 remote-as 65001` + `shutdown`; `vtysh -N <ps> -c 'show bgp
// summary json'`, counters and memory fields trimmed.
const SUMMARY_JSON = `{
"ipv4Unicast":{
  "routerId":"198.51.100.1", "as":64512, "vrfId":0, "vrfName":"default", "peerCount":3,
  "peers":{
    "198.51.100.2":{ "hostname":"router", "remoteAs":65000, "localAs":64512, "peerUptime":"00:00:03", "peerUptimeMsec":3000,
      "pfxRcd":0, "pfxSnt":1, "state":"Established", "peerState":"OK", "connectionsEstablished":1, "idType":"ipv4" },
    "198.51.100.77":{ "remoteAs":65001, "localAs":64512, "peerUptime":"never", "peerUptimeMsec":0, "pfxRcd":0, "pfxSnt":0,
      "state":"Idle", "peerState":"OK", "connectionsEstablished":0, "idType":"ipv4" },
    "198.51.100.78":{ "remoteAs":65001, "localAs":64512, "peerUptime":"never", "peerUptimeMsec":0, "pfxRcd":0, "pfxSnt":0,
      "state":"Idle (Admin)", "peerState":"Admin", "connectionsEstablished":0, "idType":"ipv4" }
  },
  "failedPeers":2, "displayedPeers":3, "totalPeers":3, "dynamicPeers":0, "bestPath":{ "multiPathRelax":"false" }
}
,
"ipv6Unicast":{
  "routerId":"198.51.100.1", "as":64512, "vrfId":0, "vrfName":"default", "peerCount":1,
  "peers":{
    "2001:db8:ffff:1::2":{ "hostname":"router", "remoteAs":65000, "localAs":64512, "peerUptime":"00:00:01", "peerUptimeMsec":1000,
      "pfxRcd":0, "pfxSnt":0, "state":"Established", "peerState":"OK", "connectionsEstablished":1, "idType":"ipv6" }
  },
  "failedPeers":0, "displayedPeers":1, "totalPeers":1, "dynamicPeers":0, "bestPath":{ "multiPathRelax":"false" }
}
}
`;

// The same lab, `vtysh -N <ps> -c 'show ip bgp summary'` (the table Quagga prints too, without PfxSnt/Desc).
const SUMMARY_TEXT = `
IPv4 Unicast Summary (VRF default):
BGP router identifier 198.51.100.1, local AS number 64512 vrf-id 0
BGP table version 1
RIB entries 1, using 192 bytes of memory
Peers 3, using 2172 KiB of memory

Neighbor             V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd   PfxSnt Desc
router(198.51.100.2) 4      65000         4         4        0    0    0 00:00:03            0        1 N/A
198.51.100.77        4      65001         0         0        0    0    0    never         Idle        0 N/A
198.51.100.78        4      65001         0         0        0    0    0    never Idle (Admin)        0 N/A

Total number of neighbors 3
`;

// Quagga 1.x layout: no hostname, no PfxSnt/Desc; a long IPv6 neighbor wraps onto its own line.
const QUAGGA_TEXT = `BGP router identifier 192.0.2.254, local AS number 64512
RIB entries 3, using 336 bytes of memory
Peers 2, using 9120 bytes of memory

Neighbor        V         AS MsgRcvd MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd
198.51.100.2    4 65000     120     121        0    0    0 01:58:01        2
2001:db8:ffff:1::2
                4 65000       0       0        0    0    0 never    Active

Total number of neighbors 2
`;

const running = (over: Partial<RunningBgp> = {}): RunningBgp => ({ asn: 64512, networks: [], routeMaps: ['VIP-RANK-0', 'VIP-RANK-1'], text: '', ...over });
const cfg = {
  dc: 'par1',
  vip_prefixes: ['192.0.2.0/24', '2001:db8::/48'],
  services: [
    { name: 'www.example.test', prefer: ['par1', 'lon1'], min_realservers: 1 },
    { name: 'api.example.test', prefer: ['lon1', 'par1'], min_realservers: 1 },
    { name: 'far.example.test', prefer: ['lon1', 'ams1', 'par1'], min_realservers: 1 },
    { name: 'elsewhere.example.test', prefer: ['lon1'], min_realservers: 1 },
  ],
} as any;

test('parseBgpSummaryJson: one neighbor per peer with its state and families', () => {
  const n = parseBgpSummaryJson(SUMMARY_JSON);
  assert.deepEqual(
    n.map((x) => [x.peer, x.remoteAs, x.hostname, x.state, x.upDown, x.families.join('+'), x.prefixesReceived]),
    [
      ['198.51.100.2', 65000, 'router', 'Established', '00:00:03', 'ipv4Unicast', 0],
      ['198.51.100.77', 65001, null, 'Idle', 'never', 'ipv4Unicast', 0],
      ['198.51.100.78', 65001, null, 'Idle (Admin)', 'never', 'ipv4Unicast', 0],
      ['2001:db8:ffff:1::2', 65000, 'router', 'Established', '00:00:01', 'ipv6Unicast', 0],
    ],
  );
  assert.deepEqual(parseBgpSummaryJson('{}'), []); // bgpd without a BGP instance
  // a peer active in both families is one neighbor
  const both = parseBgpSummaryJson(JSON.stringify({ ipv4Unicast: { peers: { a: { state: 'Established' } } }, ipv6Unicast: { peers: { a: { state: 'Established' } } } }));
  assert.deepEqual(both.map((x) => x.families), [['ipv4Unicast', 'ipv6Unicast']]);
  assert.throws(() => parseBgpSummaryJson('bgpd is not running'));
});

test('parseBgpSummaryText: FRR and Quagga tables, hostname(address), two-word states, wrapped names', () => {
  assert.deepEqual(
    parseBgpSummaryText(SUMMARY_TEXT).map((x) => [x.peer, x.hostname, x.remoteAs, x.state, x.prefixesReceived]),
    [
      ['198.51.100.2', 'router', 65000, 'Established', 0],
      ['198.51.100.77', null, 65001, 'Idle', null],
      ['198.51.100.78', null, 65001, 'Idle (Admin)', null],
    ],
  );
  assert.deepEqual(
    parseBgpSummaryText(QUAGGA_TEXT).map((x) => [x.peer, x.state, x.upDown, x.prefixesReceived]),
    [
      ['198.51.100.2', 'Established', '01:58:01', 2],
      ['2001:db8:ffff:1::2', 'Active', 'never', null],
    ],
  );
  assert.deepEqual(parseBgpSummaryText(''), []);
});

test('neighborChecks: Established ok, admin shutdown warn, anything else fails with where to look', () => {
  const c = neighborChecks(parseBgpSummaryJson(SUMMARY_JSON));
  assert.deepEqual(c.map((x) => [x.id, x.verdict]), [
    ['neighbor:198.51.100.2', 'ok'],
    ['neighbor:198.51.100.77', 'fail'],
    ['neighbor:198.51.100.78', 'warn'],
    ['neighbor:2001:db8:ffff:1::2', 'ok'],
  ]);
  assert.match(c[1]!.detail, /AS 65001, Idle, never established/);
  assert.match(c[1]!.fix!, /ping 198\.51\.100\.77/);
  assert.match(c[2]!.fix!, /no neighbor 198\.51\.100\.78 shutdown/);
  const none = neighborChecks([]);
  assert.equal(none.length, 1);
  assert.equal(none[0]!.verdict, 'fail');
});

test('splitFix: an adapter message splits into what happened and what to do', () => {
  assert.deepEqual(splitFix('bgpd is not running in pathspace x: start it with systemctl start frr@x, and check that bgpd=yes', 'F'), {
    detail: 'bgpd is not running in pathspace x',
    fix: 'start it with systemctl start frr@x, and check that bgpd=yes',
  });
  assert.deepEqual(splitFix('vtysh could not read (exit 1): % odd', 'F'), { detail: 'vtysh could not read (exit 1): % odd', fix: 'F' });
});

test('vtysh and bgpd checks: missing vtysh, bgpd down, permission, locked each get their fix', () => {
  const ctx = { dialect: 'frr' as const, vtysh: 'vtysh', pathspace: 'lb1' };
  assert.equal(vtyshCheck(ctx, '/usr/bin/vtysh').verdict, 'ok');
  const missing = vtyshCheck(ctx, null);
  assert.equal(missing.verdict, 'fail');
  assert.match(missing.fix!, /apt-get install frr/);
  const ok = bgpdCheck(ctx, { running: running({ networks: [{ prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' }] }) });
  assert.equal(ok.detail, 'router bgp 64512, 1 network statement, 2 route-maps');
  const down = bgpdCheck(ctx, { error: { code: 'VIP_E_SPEAKER_DOWN', message: 'bgpd is not running in pathspace lb1: start it with systemctl start frr@lb1, and check that bgpd=yes in /etc/frr/lb1/daemons' } });
  assert.equal(down.verdict, 'fail');
  assert.equal(down.detail, 'bgpd is not running in pathspace lb1');
  assert.match(down.fix!, /systemctl start frr@lb1/);
  const perm = bgpdCheck(ctx, { error: { code: 'VIP_E_SPEAKER_DOWN', message: 'vtysh may not talk to the daemons ("Exiting: failed to connect to any daemons.")' } });
  assert.match(perm.fix!, /frrvty/);
  const hung = bgpdCheck(ctx, { error: { code: 'VIP_E_SPEAKER_DOWN', message: 'vtysh could not read the running configuration (exit 1): % weird' } });
  assert.match(hung.fix!, /systemctl start frr@lb1 \(and bgpd=yes in \/etc\/frr\/lb1\/daemons\)/);
});

test('asnCheck: no instance, wrong AS, right AS', () => {
  assert.equal(asnCheck(running(), 'par1', 64512).verdict, 'ok');
  const wrong = asnCheck(running({ asn: 64513 }), 'par1', 64512);
  assert.equal(wrong.verdict, 'fail');
  assert.match(wrong.detail, /router bgp 64513, the config says datacenters\.par1\.asn: 64512/);
  const none = asnCheck(running({ asn: null }), 'par1', 64512);
  assert.equal(none.verdict, 'fail');
  assert.match(none.fix!, /vip-mgmt render --dc par1/);
});

test('route-maps: every rank this DC uses must exist; a missing VIP-RANK-0 only warns', () => {
  assert.deepEqual([...neededRouteMaps(cfg)], [
    ['VIP-RANK-0', ['www.example.test']],
    ['VIP-RANK-1', ['api.example.test']],
    ['VIP-RANK-2', ['far.example.test']],
  ]);
  const miss = routeMapCheck(cfg, running());
  assert.equal(miss.verdict, 'fail');
  assert.match(miss.detail, /missing VIP-RANK-2 \(used by far\.example\.test\)/);
  assert.match(miss.fix!, /vip-mgmt render --dc par1/);
  assert.equal(routeMapCheck(cfg, running({ routeMaps: ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2', 'VIP-DRAIN', 'OTHER'] })).detail, 'VIP-DRAIN, VIP-RANK-0, VIP-RANK-1, VIP-RANK-2');
  // VIP-DRAIN: only a warning (-d --graceful refused) unless the watchdog demotes with it
  const noDrain = routeMapCheck(cfg, running({ routeMaps: ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2'] }));
  assert.deepEqual([noDrain.verdict, noDrain.detail], ['warn', 'VIP-DRAIN missing: vip-mgmt -d --graceful will be refused']);
  const demote = routeMapCheck({ ...cfg, watchdog: { down_action: 'demote' } }, running({ routeMaps: ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-RANK-2'] }));
  assert.equal(demote.verdict, 'fail');
  assert.match(demote.detail, /missing VIP-DRAIN \(used by watchdog\.down_action: demote\)/);
  const onlyRank1 = { dc: 'par1', services: [{ name: 'a.test', prefer: ['lon1', 'par1'] }] } as any;
  assert.equal(routeMapCheck(onlyRank1, running({ routeMaps: ['VIP-RANK-1'] })).verdict, 'warn');
  assert.equal(routeMapCheck(onlyRank1, running({ routeMaps: ['VIP-RANK-0', 'VIP-RANK-1', 'VIP-DRAIN'] })).verdict, 'ok');
});

test('vipsToHold: service VIPs this DC announces plus host networks in bgpd, inside vip_prefixes only', () => {
  const resolved = [
    { name: 'www.example.test', chain: [], addresses: ['192.0.2.1', '2001:db8::1'], ttl: 30 },
    { name: 'elsewhere.example.test', chain: [], addresses: ['192.0.2.7'], ttl: 30 }, // par1 not in prefer
    { name: 'api.example.test', chain: [], addresses: ['192.0.2.1', '203.0.113.5'], ttl: 30 }, // outside vip_prefixes
  ];
  const r = running({
    networks: [
      { prefix: '192.0.2.50/32', routeMap: 'VIP-RANK-0' },
      { prefix: '192.0.2.1/32', routeMap: 'VIP-RANK-0' },
      { prefix: '198.51.100.128/25', routeMap: null },
    ],
  });
  assert.deepEqual(
    vipsToHold(cfg, resolved, r).map((v) => [v.vip.prefix, v.from]),
    [
      // www and api claim 192.0.2.1 at different ranks: policy.ts leaves it unannounced (a conflict),
      // so only its network statement asks for it here
      ['192.0.2.1/32', ['network in bgpd']],
      ['192.0.2.50/32', ['network in bgpd']],
      ['2001:db8::1/128', ['www.example.test']],
    ],
  );
});

test('vipLocalChecks: one ok line for those present, one FAIL with the ip command per missing VIP', () => {
  const vips = vipsToHold(cfg, [{ name: 'www.example.test', chain: [], addresses: ['192.0.2.1', '2001:db8::1'], ttl: 30 }], null);
  const all = vipLocalChecks(vips, ['127.0.0.1', '192.0.2.1', '2001:0db8:0::1']);
  assert.deepEqual(all.map((c) => [c.id, c.verdict, c.detail]), [['vip-local', 'ok', '2 of 2']]);
  const some = vipLocalChecks(vips, ['127.0.0.1', '192.0.2.1']);
  assert.deepEqual(some.map((c) => [c.id, c.verdict]), [['vip-local', 'ok'], ['vip-local:2001:db8::1/128', 'fail']]);
  assert.match(some[1]!.detail, /FRR's import check keeps it out of the BGP table/);
  assert.match(some[1]!.fix!, /^ip -6 addr add 2001:db8::1\/128 dev lo nodad/);
  const none = vipLocalChecks(vips, []);
  assert.deepEqual(none.map((c) => c.verdict), ['fail', 'fail']);
  assert.match(none[0]!.fix!, /^ip addr add 192\.0\.2\.1\/32 dev lo/);
  assert.equal(vipLocalChecks([], []).at(0)?.verdict, 'ok');
});

test('DNS checks: a silent server fails, NXDOMAIN is an answer (warn), addresses outside vip_prefixes warn', () => {
  assert.equal(dnsServerCheck('127.0.0.1:53', 'www.example.test', { addresses: ['192.0.2.1'], ms: 3 }, 'dns.servers').verdict, 'ok');
  const silent = dnsServerCheck('127.0.0.1:53', 'www.example.test', { error: { code: 'VIP_E_DNS_TIMEOUT', message: 'timeout resolving ...' } }, 'dns.servers');
  assert.equal(silent.verdict, 'fail');
  assert.equal(silent.detail, 'no answer for www.example.test');
  const nx = dnsServerCheck('127.0.0.1:53', 'www.example.test', { error: { code: 'VIP_E_DNS_NXDOMAIN', message: 'www.example.test does not exist (NXDOMAIN from 127.0.0.1:53): check the name for typos' } }, 'dns.servers');
  assert.equal(nx.verdict, 'warn');
  assert.equal(serviceDnsCheck('www.example.test', { name: 'www.example.test', chain: ['edge.example.test'], addresses: ['192.0.2.1'], ttl: 5 }, cfg).detail, '192.0.2.1 via edge.example.test');
  const outside = serviceDnsCheck('api.example.test', { name: 'api.example.test', chain: [], addresses: ['192.0.2.1', '203.0.113.5'], ttl: 5 }, cfg);
  assert.equal(outside.verdict, 'warn');
  assert.match(outside.detail, /203\.0\.113\.5 outside vip_prefixes/);
  const fail = serviceDnsCheck('www.example.test', { error: { code: 'VIP_E_DNS_SERVFAIL', message: 'server failure resolving www.example.test (SERVFAIL): retry later or fix dns.servers' } }, cfg);
  assert.deepEqual([fail.verdict, fail.fix], ['fail', 'retry later or fix dns.servers']);
});

test('IPVS, state_dir and schedule checks', () => {
  assert.equal(ipvsCheck({ source: '/proc/net/ip_vs', services: 3, vips: 2, warnings: [] }).detail, '/proc/net/ip_vs: 3 virtual services, 2 VIPs');
  const ipvs = ipvsCheck({ error: { code: 'VIP_E_IPVS_UNREADABLE', message: 'cannot read IPVS from /proc/net/ip_vs: no /proc/net/ip_vs: is the ip_vs module loaded? (modprobe ip_vs)' } });
  assert.equal(ipvs.verdict, 'fail');
  assert.match(ipvs.detail, /fails static/);
  assert.equal(stateDirCheck('/var/lib/vip-mgmt', { writable: true, exists: true, holds: 1 }).detail, '/var/lib/vip-mgmt, 1 maintenance hold');
  assert.equal(stateDirCheck('/var/lib/vip-mgmt', { error: 'cannot create a file: EROFS' }).verdict, 'fail');
  assert.equal(stateDirCheck('/x', { writable: true, exists: true, holds: null, stateError: { code: 'VIP_E_STATE_CORRUPT', message: 'state file /x/state.json is corrupt (bad)' } }).verdict, 'fail');
  assert.equal(mentionsWatchdog('* * * * * root /usr/local/bin/vip-mgmt watchdog -q -c /etc/vip-mgmt/config.yaml\n'), true);
  assert.equal(mentionsWatchdog("* * * * * root /opt/vip-mgmt/bin/vip-mgmt -q watchdog\n"), true);
  assert.equal(mentionsWatchdog('# * * * * * root vip-mgmt watchdog\n'), false);
  assert.equal(mentionsWatchdog('* * * * * root vip-mgmt status\n'), false);
});

test('schedule: cron or an enabled unit is ok; a unit not enabled, a skipped cron.d name, or daemon + cron warn', () => {
  const none = scheduleCheck([]);
  assert.equal(none.verdict, 'warn');
  assert.match(none.fix!, /vip-mgmt cron > \/etc\/cron\.d\/vip-mgmt/);
  const cron = { path: '/etc/cron.d/vip-mgmt', kind: 'cron' as const, enabled: true };
  const timer = { path: '/etc/systemd/system/vip-mgmt-watchdog.timer', kind: 'timer' as const, enabled: true };
  const daemon = { path: '/etc/systemd/system/vip-mgmt-watchdogd.service', kind: 'daemon' as const, enabled: true };
  assert.deepEqual([scheduleCheck([cron]).verdict, scheduleCheck([cron]).detail], ['ok', 'cron /etc/cron.d/vip-mgmt']);
  assert.equal(scheduleCheck([timer]).verdict, 'ok');
  assert.equal(scheduleCheck([daemon]).verdict, 'ok');
  const off = scheduleCheck([{ ...timer, enabled: false }]);
  assert.deepEqual([off.verdict, off.fix], ['warn', 'systemctl enable --now vip-mgmt-watchdog.timer']);
  const both = scheduleCheck([cron, daemon]);
  assert.equal(both.verdict, 'warn');
  assert.match(both.detail, /take turns on the same lock/);
  assert.equal(scheduleCheck([cron, { ...daemon, enabled: false }]).verdict, 'ok');
  const dotted = scheduleCheck([], ['/etc/cron.d/vip-mgmt.cron']);
  assert.equal(dotted.verdict, 'warn');
  assert.equal(dotted.fix, 'rename it: mv /etc/cron.d/vip-mgmt.cron /etc/cron.d/vip-mgmt');
  assert.deepEqual(['vip-mgmt', 'vip_mgmt-2', 'vip-mgmt.cron', 'vip-mgmt~', '.vip'].map(cronNameRuns), [true, true, false, false, false]);
});

test('exit code, text lines and --json: warnings pass, any failure exits 1, a bad config 3', () => {
  const checks: Check[] = [
    { id: 'bgpd', title: 'bgpd answering', verdict: 'ok', detail: 'router bgp 64512' },
    { id: 'schedule', title: 'watchdog scheduled', verdict: 'warn', detail: 'none', fix: 'vip-mgmt cron > /etc/cron.d/vip-mgmt' },
  ];
  assert.equal(doctorExit({ checks, speakerUnavailable: false }), 0);
  assert.equal(formatCheck(checks[0]!), 'ok   bgpd answering: router bgp 64512');
  assert.equal(formatCheck(checks[1]!), 'warn watchdog scheduled: none -> fix: vip-mgmt cron > /etc/cron.d/vip-mgmt');
  assert.equal(formatReport({ checks, speakerUnavailable: false }).split('\n').at(-1), '2 checks: 1 ok, 1 warning, 0 failed');
  assert.deepEqual(reportJson({ checks, speakerUnavailable: false }), { checks, ok: true, speakerUnavailable: false });

  const down: Check[] = [{ id: 'bgpd', title: 'bgpd answering', verdict: 'fail', detail: 'bgpd is not running', fix: 'start it' }];
  assert.equal(doctorExit({ checks: down, speakerUnavailable: true }), 1);
  assert.equal(formatCheck(down[0]!), 'FAIL bgpd answering: bgpd is not running -> fix: start it');
  assert.match(formatReport({ checks: down, speakerUnavailable: true }), /1 failed; the BGP speaker is unavailable/);
  assert.equal(reportJson({ checks: down, speakerUnavailable: true }).ok, false);
  assert.equal(doctorExit({ checks: down, speakerUnavailable: false, configInvalid: true }), 3);
});

test('birdIncludeCheck: the include missing, without the filter, a BGP protocol exporting with another filter, none at all; ok names the routes', () => {
  const base = { include: '/etc/bird/vip-mgmt.conf', routes: 2, hasFilter: true, error: null, withoutFilter: [], bgpProtocols: 2 };
  const okCheck = birdIncludeCheck(base);
  assert.equal(okCheck.verdict, 'ok');
  assert.match(okCheck.detail, /2 routes; 2 BGP protocols export with vip_mgmt_export/);
  const missing = birdIncludeCheck({ ...base, routes: null, hasFilter: false, error: 'missing' });
  assert.equal(missing.verdict, 'fail');
  assert.match(missing.fix!, /vip-mgmt render > \/etc\/bird\/vip-mgmt\.conf/);
  assert.match(birdIncludeCheck({ ...base, hasFilter: false }).detail, /defines no filter vip_mgmt_export/);
  const other = birdIncludeCheck({ ...base, withoutFilter: ['router_v6'] });
  assert.equal(other.verdict, 'fail');
  assert.match(other.detail, /router_v6 exports with another filter/);
  assert.match(other.fix!, /export filter vip_mgmt_export;/);
  assert.equal(birdIncludeCheck({ ...base, bgpProtocols: 0 }).verdict, 'fail');
});
