// Step tables for host health checks: a VIP's live value from check outcomes and IPVS (core/checks.ts), the watchdog cycle fed by them, and the config rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLabel, checksVerdict, liveText, needsIpvs, vipLive, type CheckOutcome, type CheckResults } from '../../src/core/checks.ts';
import { planCycle, type CycleConfig } from '../../src/core/cycle.ts';
import { VipError } from '../../src/core/errors.ts';
import type { IpvsTable } from '../../src/core/ipvs.ts';
import { emptyState } from '../../src/core/state.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { ResolvedName, State } from '../../src/core/types.ts';

const pass: CheckOutcome = { ok: true, detail: 'HTTP 200', ms: 3 };
const c404: CheckOutcome = { ok: false, detail: 'HTTP 404', ms: 3 };
const http = { type: 'http' as const, url: 'http://127.0.0.1:8080/health', timeout: 1000 };
const tcp = { type: 'tcp' as const, target: { host: '127.0.0.1', port: 53 }, timeout: 1000 };
const svc = (name: string, live_from: 'ipvs' | 'checks' | 'both', n = 2) => ({ name, live_from, checks: live_from === 'ipvs' ? [] : [http, tcp].slice(0, n) });
const res = (name: string, ...o: (CheckOutcome | undefined)[]): CheckResults => new Map([[name, o]]);

test('checkLabel names each kind of check as logs, status and metrics show it', () => {
  assert.equal(checkLabel(http), 'http http://127.0.0.1:8080/health');
  assert.equal(checkLabel(tcp), 'tcp 127.0.0.1:53');
  assert.equal(checkLabel({ type: 'dns', server: { host: '2001:db8::1', port: 53 }, name: 'h.test', qtype: 'AAAA', timeout: 1 }), 'dns h.test/AAAA @[2001:db8::1]:53');
  assert.equal(checkLabel({ type: 'exec', argv: ['/bin/check', '-q'], timeout: 1 }), 'exec /bin/check -q');
});

test('checksVerdict: all pass; one failure fails even with another not run yet; not run yet is unknown', () => {
  const s = svc('a', 'checks');
  assert.deepEqual(checksVerdict(s, res('a', pass, pass)), { pass: true, failing: [] });
  assert.deepEqual(checksVerdict(s, res('a', c404, undefined)), { pass: false, failing: ['http http://127.0.0.1:8080/health: HTTP 404'] });
  assert.deepEqual(checksVerdict(s, res('a', pass)), { pass: null, failing: [] });
  assert.deepEqual(checksVerdict(s, new Map()), { pass: null, failing: [] });
});

test('vipLive step table: ipvs counts, checks is 1/0, both is the count gated by the checks, unknown is null', () => {
  const rows: [string, ReturnType<typeof svc>[], number | null, CheckResults, number | null][] = [
    ['ipvs alone', [svc('a', 'ipvs')], 3, new Map(), 3],
    ['discovered (no service): ipvs', [], 2, new Map(), 2],
    ['ipvs unreadable', [svc('a', 'ipvs')], null, new Map(), null],
    ['checks pass', [svc('a', 'checks')], null, res('a', pass, pass), 1],
    ['checks fail, IPVS unreadable: still decided', [svc('a', 'checks')], null, res('a', pass, c404), 0],
    ['checks not run yet', [svc('a', 'checks')], null, res('a', pass), null],
    ['both: pass -> the IPVS count', [svc('a', 'both')], 4, res('a', pass, pass), 4],
    ['both: a check fails -> 0', [svc('a', 'both')], 4, res('a', c404, pass), 0],
    ['both: IPVS 0, checks pass -> 0', [svc('a', 'both')], 0, res('a', pass, pass), 0],
    ['both: IPVS unreadable freezes, failing check or not', [svc('a', 'both')], null, res('a', c404, pass), null],
    ['two services: the weakest', [svc('a', 'ipvs'), svc('b', 'checks')], 3, res('b', pass, pass), 1],
    ['two services: one unknown -> null (fail static)', [svc('a', 'ipvs'), svc('b', 'checks')], null, res('b', c404, pass), null],
  ];
  for (const [what, services, ipvs, results, want] of rows) assert.equal(vipLive(services, ipvs, results).live, want, what);
});

test('liveText: the change line says what was counted and names a failing check and why', () => {
  assert.equal(liveText('192.0.2.1', vipLive([svc('a', 'ipvs')], 2, new Map())), '2 realservers available behind 192.0.2.1');
  assert.equal(liveText('192.0.2.1', vipLive([svc('a', 'checks')], null, res('a', c404, pass))), '192.0.2.1: failing check http http://127.0.0.1:8080/health: HTTP 404');
  assert.equal(liveText('192.0.2.1', vipLive([svc('a', 'checks')], null, res('a', pass, pass))), '192.0.2.1: checks passing');
  assert.equal(liveText('192.0.2.1', vipLive([svc('a', 'both')], 3, res('a', pass, pass))), '3 realservers available behind 192.0.2.1, checks passing');
});

test('needsIpvs: only when some service reads it, or discover', () => {
  assert.equal(needsIpvs({ services: [svc('a', 'checks')], watchdog: { discover: false } }), false);
  assert.equal(needsIpvs({ services: [svc('a', 'checks')], watchdog: { discover: true } }), true);
  assert.equal(needsIpvs({ services: [svc('a', 'checks'), svc('b', 'both')], watchdog: { discover: false } }), true);
});

// --- the cycle with checks as one more input ---------------------------------------------------

const answers: ResolvedName[] = [
  { name: 'dns.tld', chain: [], addresses: ['192.0.2.1', '2001:db8::1'], ttl: 60 },
  { name: 'web.tld', chain: [], addresses: ['192.0.2.2'], ttl: 60 },
];
function cfg(webFrom: 'ipvs' | 'both' = 'ipvs'): CycleConfig {
  return {
    dc: 'par1',
    vip_prefixes: ['192.0.2.0/24', '2001:db8::/48'],
    services: [
      { name: 'dns.tld', prefer: ['par1'], min_realservers: 1, live_from: 'checks', checks: [http, tcp] },
      { name: 'web.tld', prefer: ['par1'], min_realservers: 1, live_from: webFrom, checks: webFrom === 'both' ? [http] : [] },
    ],
    watchdog: { rise: 2, fall: 2, settle: 2, down_action: 'withdraw', ipvs: { source: 'proc', path: '/x', ipvsadm: 'ipvsadm' }, fwmarks: {}, exclude_realservers: [], discover: false, metrics_file: '', min_realservers: 1 },
  } as CycleConfig;
}
const table = (weights: number[]): IpvsTable =>
  ({
    services: [{ kind: 'tcp', vip: '192.0.2.2', port: 80, fwmark: null, scheduler: 'rr', persistent: null, flags: [], reals: weights.map((weight, i) => ({ address: `198.51.100.${i + 1}`, port: 80, forward: 'route', weight, active: 0, inactive: 0 })) }],
    warnings: [],
    malformed: [],
  }) as IpvsTable;

class Sim {
  state: State = emptyState();
  configured = new Map<string, string | null>();
  t = Date.parse('2026-12-01T00:00:00Z');
  lines: string[] = [];
  constructor(public config: CycleConfig) {}
  step(ipvs: IpvsTable | VipError | null, checks: CheckResults): string {
    this.t += 1000;
    const running = { asn: 64512, networks: [...this.configured].map(([prefix, routeMap]) => ({ prefix, routeMap })), routeMaps: ['VIP-RANK-0', 'VIP-DRAIN'], text: '' };
    const plan = planCycle({ config: this.config, resolved: answers, ipvs, checks, running, state: this.state, now: new Date(this.t) });
    this.state = plan.state;
    for (const c of plan.changes) c.action === 'add' ? this.configured.set(c.prefix, c.routeMap) : this.configured.delete(c.prefix);
    this.lines.push(...plan.events.filter((e) => e.level === 'info').map((e) => e.msg));
    const errs = [...new Set(plan.errors.map((e) => e.code))].map((c) => ` !${c}`).join('');
    return (plan.changes.map((c) => `${c.action} ${c.prefix}`).join(', ') || '-') + errs;
  }
}
const both = (dns: CheckOutcome[], web: CheckOutcome[] = []): CheckResults => new Map([['dns.tld', dns], ['web.tld', web]]);
const DNS_ADD = 'add 192.0.2.1/32, add 2001:db8::1/128';
const DNS_DEL = 'delete 192.0.2.1/32, delete 2001:db8::1/128';

test('live_from checks with no IPVS on the host: rise/fall on the checks, v4 and v6, no IPVS error', () => {
  const config = cfg();
  config.services = [config.services[0]!];
  const sim = new Sim(config);
  const ok = both([pass, pass]);
  const bad = both([c404, pass]);
  const steps = [ok, ok, ok, bad, bad, bad, ok, ok].map((c) => sim.step(null, c));
  assert.deepEqual(steps, ['-', DNS_ADD, '-', '-', DNS_DEL, '-', '-', DNS_ADD]);
  assert.ok(sim.lines.some((l) => l === '192.0.2.1: failing check http http://127.0.0.1:8080/health: HTTP 404 > delete route'), sim.lines.join('\n'));
  assert.ok(sim.lines.includes('192.0.2.1: checks passing > add route'));
  assert.equal(sim.state.ipvs, undefined, 'no IPVS trust kept when it is never read');
});

test('an unreadable IPVS table freezes the ipvs/both services but not the checks service', () => {
  const sim = new Sim(cfg('both'));
  const ok = both([pass, pass], [pass]);
  assert.equal(sim.step(table([1]), ok), '-');
  assert.equal(sim.step(table([1]), ok), "add 192.0.2.1/32, add 192.0.2.2/32, add 2001:db8::1/128");
  const unreadable = new VipError('VIP_E_IPVS_UNREADABLE', 'cut line');
  const down = both([c404, pass], [c404]);
  assert.equal(sim.step(unreadable, down), '- !VIP_E_IPVS_UNREADABLE');
  assert.equal(sim.step(unreadable, down), `${DNS_DEL} !VIP_E_IPVS_UNREADABLE`, 'the checks service withdraws; web (both) stays frozen');
  assert.ok(sim.configured.has('192.0.2.2/32'));
  assert.equal(sim.state.watchdog['192.0.2.2/32']!.state, 'unknown');
});

test('live_from both needs IPVS and the checks: either one down withdraws, both up restores', () => {
  const sim = new Sim(cfg('both'));
  const dnsOk = [pass, pass];
  const run = (w: number[], web: CheckOutcome) => sim.step(table(w), both(dnsOk, [web]));
  assert.deepEqual([run([1], pass), run([1], pass)], ['-', "add 192.0.2.1/32, add 192.0.2.2/32, add 2001:db8::1/128"]);
  assert.deepEqual([run([1], c404), run([1], c404)], ['-', 'delete 192.0.2.2/32'], 'IPVS live, the check fails');
  assert.deepEqual([run([0], pass), run([0], pass)], ['-', '-'], 'the check passes, IPVS has no live real server');
  assert.deepEqual([run([1], pass), run([1], pass)], ['-', 'add 192.0.2.2/32']);
  assert.deepEqual([run([0], pass), run([0], pass)], ['-', 'delete 192.0.2.2/32']);
  assert.ok(sim.lines.includes('1 realservers available behind 192.0.2.2, failing check http http://127.0.0.1:8080/health: HTTP 404 > delete route'), sim.lines.join('\n'));
});

test('checks not run yet change nothing (daemon start-up); a failing check is kept in the state for status', () => {
  const sim = new Sim(cfg());
  assert.equal(sim.step(table([1]), new Map()), '-');
  assert.equal(sim.state.watchdog['192.0.2.1/32']!.state, 'unknown');
  sim.step(table([1]), both([c404, pass]));
  assert.deepEqual(sim.state.watchdog['192.0.2.1/32']!.failing, ['http http://127.0.0.1:8080/health: HTTP 404']);
  sim.step(table([1]), both([pass, pass]));
  assert.equal(sim.state.watchdog['192.0.2.1/32']!.failing, undefined);
});

// --- config rules ---------------------------------------------------------------------------------

const base = { dc: 'par1', datacenters: { par1: { asn: 64512 } }, vip_prefixes: ['192.0.2.0/24'] };
const problems = (services: unknown[]) => validateConfig({ ...base, services }).problems.map((p) => `${p.path}: ${p.message}`);

test('config: every kind of check parses, with durations and defaults', () => {
  const r = validateConfig({
    ...base,
    services: [{
      name: 'dns.tld', prefer: ['par1'], live_from: 'checks',
      checks: [
        { type: 'http', url: 'https://127.0.0.1:8443/health', expect: 'ok', ca: '/etc/ssl/ca.pem', timeout: '1s', interval: '500ms' },
        { type: 'tcp', target: '[2001:db8::1]:53', timeout: '1s' },
        { type: 'dns', server: '127.0.0.1:5353', name: 'health.example.net', timeout: '1s' },
        { type: 'exec', argv: ['/bin/true', '-x'], timeout: '2s' },
      ],
    }],
  });
  assert.deepEqual(r.problems, []);
  const s = r.config!.services[0]!;
  assert.equal(s.live_from, 'checks');
  assert.deepEqual(s.checks.map((c) => [c.type, c.timeout, c.interval]), [['http', 1000, 500], ['tcp', 1000, undefined], ['dns', 1000, undefined], ['exec', 2000, undefined]]);
  assert.deepEqual((s.checks[2] as { server: unknown; qtype: string }).server, { host: '127.0.0.1', port: 5353 });
  assert.equal((s.checks[2] as { qtype: string }).qtype, 'A');
  assert.equal(validateConfig({ ...base, services: [{ name: 'a', prefer: ['par1'] }] }).config!.services[0]!.live_from, 'ipvs');
});

test('config: a check that cannot run is refused, every problem with its path', () => {
  const got = problems([{
    name: 'a', prefer: ['par1'], live_from: 'checks', min_realservers: 2,
    checks: [
      { type: 'http', url: 'not a url', timeout: '1s' },
      { type: 'http', url: 'ftp://h/x', timeout: '1s' },
      { type: 'tcp', target: '127.0.0.1', timeout: '1s' },
      { type: 'dns', server: '300.1.1.1', name: 'a..b', timeout: '1s' },
      { type: 'exec', argv: ['check-db'], timeout: 2 },
      { type: 'exec', argv: [], timeout: '1s' },
      { type: 'icmp', timeout: '1s' },
      { type: 'tcp', target: '127.0.0.1:80' },
    ],
  }, { name: 'b', prefer: ['par1'], checks: [{ type: 'tcp', target: '127.0.0.1:80', timeout: '1s' }] }, { name: 'c', prefer: ['par1'], live_from: 'both' }]);
  const want = [
    /^services\[0\]\.checks\[0\]\.url: invalid URL "not a url"$/,
    /^services\[0\]\.checks\[1\]\.url: .*only http:\/\/ and https:\/\//,
    /^services\[0\]\.checks\[2\]\.target: invalid target "127\.0\.0\.1"/,
    /^services\[0\]\.checks\[3\]\.server: invalid DNS server "300\.1\.1\.1"/,
    /^services\[0\]\.checks\[3\]\.name: not a valid DNS name$/,
    /^services\[0\]\.checks\[4\]\.argv\[0\]: argv\[0\] must be an absolute path/,
    /^services\[0\]\.checks\[4\]\.timeout: 2 has no unit/,
    /^services\[0\]\.checks\[5\]\.argv/,
    /^services\[0\]\.checks\[6\]\.type: /,
    /^services\[0\]\.checks\[7\]\.timeout: is required$/,
    /^services\[0\]\.min_realservers: min_realservers counts IPVS real servers/,
    /^services\[1\]\.live_from: checks are listed but live_from is ipvs/,
    /^services\[2\]\.checks: live_from: both needs at least one check$/,
  ];
  for (const re of want) assert.ok(got.some((g) => re.test(g)), `${re}\n${got.join('\n')}`);
});
