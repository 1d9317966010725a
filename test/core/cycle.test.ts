// Step tables for planCycle: which IPVS table is believed, vanished and orphaned VIPs, holds, the journal, state before speaker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planCycle, implausible, type CycleConfig } from '../../src/core/cycle.ts';
import { VipError } from '../../src/core/errors.ts';
import type { IpvsTable } from '../../src/core/ipvs.ts';
import { ipvsTable } from '../fixtures/ipvs-tables.ts';
import { emptyState } from '../../src/core/state.ts';
import type { ResolvedName, RunningBgp, State } from '../../src/core/types.ts';

const r = (name: string, ...addresses: string[]): ResolvedName => ({ name, chain: [], addresses, ttl: 60 });

function config(over: Partial<CycleConfig['watchdog']> = {}, services?: CycleConfig['services']): CycleConfig {
  return {
    dc: 'par1',
    vip_prefixes: ['192.0.2.0/24', '2001:db8::/48'],
    services: services ?? [
      { name: 'web.tld', prefer: ['par1', 'lon1'], min_realservers: 1 },
      { name: 'api.tld', prefer: ['lon1', 'par1'], min_realservers: 1 },
      { name: 'lon-only.tld', prefer: ['lon1'], min_realservers: 1 },
    ],
    watchdog: {
      rise: 2,
      fall: 2,
      settle: 2,
      ipvs: { source: 'proc', path: '/proc/net/ip_vs', ipvsadm: 'ipvsadm' },
      fwmarks: {},
      exclude_realservers: [],
      discover: false,
      metrics_file: '',
      min_realservers: 1,
      ...over,
    },
  } as CycleConfig;
}
const answers = [r('web.tld', '192.0.2.1'), r('api.tld', '192.0.2.2'), r('lon-only.tld', '192.0.2.3')];

/** A table: VIP -> live weights of its real servers (one TCP/80 service each). */
const ipvs = (vips: Record<string, number[]>): IpvsTable => ipvsTable(vips);

/** Runs cycles against a simulated speaker that applies every change; returns one line per cycle. */
class Sim {
  state: State = emptyState();
  configured = new Map<string, string | null>();
  routeMaps = ['VIP-RANK-0', 'VIP-RANK-1'];
  t = Date.parse('2026-12-01T00:00:00Z');
  constructor(
    public cfg: CycleConfig,
    public resolved: ResolvedName[] = answers,
  ) {}
  running(): RunningBgp {
    return { asn: 64512, networks: [...this.configured].map(([prefix, routeMap]) => ({ prefix, routeMap })), routeMaps: this.routeMaps, text: '' };
  }
  /** One cycle; "add 192.0.2.1/32, delete ..." or "-", plus " !CODE" per error. */
  step(table: IpvsTable | VipError): string {
    this.t += 60_000;
    const plan = planCycle({ config: this.cfg, resolved: this.resolved, ipvs: table, running: this.running(), state: this.state, now: new Date(this.t) });
    this.state = plan.state;
    for (const c of plan.changes) {
      if (c.action === 'add') this.configured.set(c.prefix, c.routeMap);
      else this.configured.delete(c.prefix);
    }
    const acts = plan.changes.map((c) => `${c.action} ${c.prefix}`).join(', ') || '-';
    const errs = [...new Set(plan.errors.map((e) => e.code))].map((c) => ` !${c}`).join('');
    return acts + errs;
  }
  steps(tables: (IpvsTable | VipError)[]): string[] {
    return tables.map((t) => this.step(t));
  }
}

const healthy = ipvs({ '192.0.2.1': [1, 1], '192.0.2.2': [1, 1], '192.0.2.3': [1] });
const IMPL = ' !VIP_E_IPVS_IMPLAUSIBLE';

test('implausible(): empty after non-empty, or more than half lost since the last believed table', () => {
  const rows: [number, { services: number; distrusted: number } | undefined, boolean][] = [
    [0, undefined, true],
    [0, { services: 3, distrusted: 0 }, true],
    [0, { services: 0, distrusted: 0 }, false],
    [1, { services: 4, distrusted: 0 }, true],
    [2, { services: 4, distrusted: 0 }, false],
    [1, { services: 2, distrusted: 0 }, false],
    [5, undefined, false],
  ];
  for (const [total, prev, want] of rows) assert.equal(implausible(total, prev) !== null, want, `${total} after ${JSON.stringify(prev)}`);
});

test('start-up: healthy VIPs are announced after rise cycles; never the VIP of a service leaving this DC out', () => {
  const sim = new Sim(config());
  assert.deepEqual(sim.steps([healthy, healthy, healthy]), ['-', 'add 192.0.2.1/32, add 192.0.2.2/32', '-']);
  assert.deepEqual([...sim.configured], [
    ['192.0.2.1/32', 'VIP-RANK-0'],
    ['192.0.2.2/32', 'VIP-RANK-1'],
  ]);
  assert.deepEqual(Object.keys(sim.state.announced!), ['192.0.2.1/32', '192.0.2.2/32'], 'journalled');
});

test('a headers-only table (keepalived restarting) withdraws nothing for settle cycles, then is believed', () => {
  const sim = new Sim(config());
  sim.steps([healthy, healthy]);
  const empty = ipvs({});
  assert.deepEqual(sim.steps([empty, empty, healthy]), [`-${IMPL}`, `-${IMPL}`, '-'], 'a short restart changes nothing');
  assert.deepEqual(sim.steps([empty, empty, empty, empty, empty]), [`-${IMPL}`, `-${IMPL}`, '-', 'delete 192.0.2.1/32, delete 192.0.2.2/32', '-'], 'believed after settle, then fall');
  assert.deepEqual(sim.state.ipvs, { services: 0, distrusted: 0 });
  assert.deepEqual(sim.steps([healthy, healthy]), ['-', 'add 192.0.2.1/32, add 192.0.2.2/32']);
});

test('an unreadable table (cut or malformed line) changes nothing, every cycle', () => {
  const sim = new Sim(config());
  sim.steps([healthy, healthy]);
  const cut = new VipError('VIP_E_IPVS_UNREADABLE', 'line 4: cut');
  assert.deepEqual(sim.steps([cut, cut, cut, cut, cut]), Array(5).fill('- !VIP_E_IPVS_UNREADABLE'));
  assert.equal(sim.configured.size, 2);
  assert.equal(sim.state.watchdog['192.0.2.1/32']!.state, 'unknown');
});

test('a table that lost more than half of its services is not believed for settle cycles', () => {
  const cfg = config({}, [
    { name: 'web.tld', prefer: ['par1'], min_realservers: 1 },
    { name: 'api.tld', prefer: ['par1'], min_realservers: 1 },
    { name: 'img.tld', prefer: ['par1'], min_realservers: 1 },
  ]);
  const sim = new Sim(cfg, [r('web.tld', '192.0.2.1'), r('api.tld', '192.0.2.2'), r('img.tld', '192.0.2.4')]);
  const all = ipvs({ '192.0.2.1': [1], '192.0.2.2': [1], '192.0.2.4': [1] });
  sim.steps([all, all]);
  const one = ipvs({ '192.0.2.1': [1] });
  assert.deepEqual(sim.steps([one, one, one, one]), [`-${IMPL}`, `-${IMPL}`, '-', 'delete 192.0.2.2/32, delete 192.0.2.4/32']);
});

test("one VIP's virtual services vanishing is not believed for settle cycles; a weight-0 service is believed at once", () => {
  const sim = new Sim(config());
  const two = ipvs({ '192.0.2.1': [1], '192.0.2.2': [1], '192.0.2.9': [1] });
  sim.steps([two, two]);
  const gone = ipvs({ '192.0.2.2': [1], '192.0.2.9': [1] });
  assert.deepEqual(sim.steps([gone, gone, gone, gone]), [`-${IMPL}`, `-${IMPL}`, '-', 'delete 192.0.2.1/32']);
  const quiesced = ipvs({ '192.0.2.1': [1], '192.0.2.2': [0], '192.0.2.9': [1] });
  const s2 = new Sim(config());
  s2.steps([two, two]);
  assert.deepEqual(s2.steps([quiesced, quiesced]), ['-', 'delete 192.0.2.2/32'], 'weight 0: fall cycles only');
});

test('discover: a VIP whose service leaves IPVS is withdrawn after settle, never orphaned; a VIP of a service leaving this DC out is never announced', () => {
  const sim = new Sim(config({ discover: true }));
  const t = ipvs({ '192.0.2.1': [1], '192.0.2.3': [1, 1], '192.0.2.50': [1], '192.0.2.60': [1] });
  assert.deepEqual(sim.steps([t, t]), ['-', 'add 192.0.2.1/32, add 192.0.2.50/32, add 192.0.2.60/32']);
  assert.equal(sim.state.announced!['192.0.2.50/32']!.source, 'discover');
  assert.equal(sim.configured.has('192.0.2.3/32'), false, "lon-only.tld's VIP stays off in par1");
  const left = ipvs({ '192.0.2.1': [1], '192.0.2.3': [1, 1], '192.0.2.60': [1] });
  assert.deepEqual(sim.steps([left, left, left, left]), ['-', '-', 'delete 192.0.2.50/32', '-']);
  assert.equal(sim.state.announced!['192.0.2.50/32'], undefined);
  assert.equal(sim.state.watchdog['192.0.2.50/32'], undefined);
  // came back: discovered again
  assert.deepEqual(sim.steps([t, t]), ['-', 'add 192.0.2.50/32']);
});

test('a VIP DNS no longer gives is withdrawn after settle; not while a service does not resolve', () => {
  const sim = new Sim(config());
  sim.steps([healthy, healthy]);
  sim.resolved = [r('web.tld', '192.0.2.7'), r('api.tld', '192.0.2.2'), r('lon-only.tld', '192.0.2.3')];
  const t = ipvs({ '192.0.2.1': [1, 1], '192.0.2.7': [1], '192.0.2.2': [1, 1], '192.0.2.3': [1] });
  sim.resolved = sim.resolved.filter((x) => x.name !== 'api.tld');
  assert.deepEqual(sim.steps([t, t, t]), ['-', 'add 192.0.2.7/32', '-'], 'api.tld unresolved: 192.0.2.1 is left as it is');
  sim.resolved.push(r('api.tld', '192.0.2.2'));
  assert.deepEqual(sim.steps([t, t, t]), ['-', '-', 'delete 192.0.2.1/32']);
});

test('holds win: enforced on every configured VIP, IPVS readable or not, target or not', () => {
  const sim = new Sim(config());
  sim.steps([healthy, healthy]);
  const hold = { reason: 'kernel upgrade', by: 'alice', since: '2026-12-01T00:00:00Z', names: ['web.tld'] };
  sim.state = { ...sim.state, holds: { '192.0.2.1/32': hold, '192.0.2.3/32': hold } };
  sim.configured.set('192.0.2.3/32', 'VIP-RANK-0'); // e.g. an FRR reload from an old snippet
  assert.deepEqual(sim.step(new VipError('VIP_E_IPVS_UNREADABLE', 'x')), 'delete 192.0.2.1/32, delete 192.0.2.3/32 !VIP_E_IPVS_UNREADABLE');
  sim.configured.set('192.0.2.1/32', 'VIP-RANK-0');
  assert.deepEqual(sim.steps([healthy, healthy, healthy]), ['delete 192.0.2.1/32', '-', '-']);
  assert.equal(sim.state.watchdog['192.0.2.1/32']!.state, 'held');
});

test('a missing route-map refuses the add with an error; nothing outside vip_prefixes is touched', () => {
  const sim = new Sim(config());
  sim.routeMaps = ['VIP-RANK-0'];
  assert.deepEqual(sim.steps([healthy, healthy]), ['-', 'add 192.0.2.1/32 !VIP_E_POLICY_ROUTEMAP']);
  const out = new Sim(config(), [r('web.tld', '198.51.100.7')]);
  out.configured.set('198.51.100.7/32', 'VIP-RANK-0');
  out.state.holds['198.51.100.7/32'] = { reason: 'x', by: 'y', since: 'z', names: [] };
  assert.deepEqual(out.steps([healthy, healthy]), ['-', '-']);
});

test("an operator's literal announcement is journalled as such and left alone by the watchdog", () => {
  const sim = new Sim(config());
  sim.configured.set('192.0.2.77/32', 'VIP-RANK-0');
  sim.state.announced = { '192.0.2.77/32': { routeMap: 'VIP-RANK-0', source: 'literal', since: '2026-12-01T00:00:00Z' } };
  assert.deepEqual(sim.steps([healthy, healthy, healthy, healthy]), ['-', 'add 192.0.2.1/32, add 192.0.2.2/32', '-', '-']);
  assert.equal(sim.configured.has('192.0.2.77/32'), true);
  assert.equal(sim.state.announced!['192.0.2.77/32']!.source, 'literal');
});

test('quiet cycles return the same state (no rewrite) and log nothing at info', () => {
  const sim = new Sim(config());
  sim.steps([healthy, healthy, healthy]);
  const before = JSON.stringify(sim.state);
  const plan = planCycle({ config: sim.cfg, resolved: answers, ipvs: healthy, running: sim.running(), state: sim.state, now: new Date(sim.t + 60_000) });
  assert.equal(JSON.stringify(plan.state), before);
  assert.deepEqual(plan.events.filter((e) => e.level === 'info'), []);
});

test('down_action demote: where it would withdraw it announces with VIP-DRAIN; recovery restores the rank route-map', () => {
  const sim = new Sim(config({ down_action: 'demote' }));
  sim.routeMaps.push('VIP-DRAIN');
  sim.steps([healthy, healthy]);
  const dead = ipvs({ '192.0.2.1': [0, 0], '192.0.2.2': [1, 1], '192.0.2.3': [1] });
  assert.deepEqual(sim.steps([dead, dead, dead]), ['-', 'add 192.0.2.1/32', '-']);
  assert.equal(sim.configured.get('192.0.2.1/32'), 'VIP-DRAIN', 'still announced, demoted');
  assert.equal(sim.state.watchdog['192.0.2.1/32']!.state, 'down');
  assert.equal(sim.state.announced!['192.0.2.1/32']!.routeMap, 'VIP-DRAIN');
  assert.deepEqual(sim.steps([healthy, healthy]), ['-', 'add 192.0.2.1/32']);
  assert.equal(sim.configured.get('192.0.2.1/32'), 'VIP-RANK-0', 'back on its rank');
});

test('demote without VIP-DRAIN in the speaker withdraws instead, with an error; demote switched off withdraws a demoted VIP', () => {
  const sim = new Sim(config({ down_action: 'demote' }));
  sim.steps([healthy, healthy]);
  const dead = ipvs({ '192.0.2.1': [0, 0], '192.0.2.2': [1, 1], '192.0.2.3': [1] });
  assert.deepEqual(sim.steps([dead, dead]), ['-', 'delete 192.0.2.1/32 !VIP_E_POLICY_ROUTEMAP']);
  const s2 = new Sim(config({ down_action: 'demote' }));
  s2.routeMaps.push('VIP-DRAIN');
  s2.steps([healthy, healthy, dead, dead]);
  assert.equal(s2.configured.get('192.0.2.1/32'), 'VIP-DRAIN');
  s2.cfg = config({ down_action: 'withdraw' });
  assert.deepEqual(s2.steps([dead]), ['delete 192.0.2.1/32']);
});

test('a graceful drain: VIP-DRAIN until its deadline, whatever IPVS says; then withdrawn by the cycle and the hold stays, plain', () => {
  const sim = new Sim(config());
  sim.routeMaps.push('VIP-DRAIN');
  sim.steps([healthy, healthy]);
  const until = new Date(sim.t + 150_000).toISOString(); // two and a half cycles away
  sim.state = { ...sim.state, holds: { '192.0.2.1/32': { reason: 'kernel', by: 'alice', since: 'x', names: ['web.tld'], drain: { until } } } };
  assert.deepEqual(sim.steps([healthy, new VipError('VIP_E_IPVS_UNREADABLE', 'x')]), ['add 192.0.2.1/32', '- !VIP_E_IPVS_UNREADABLE']);
  assert.equal(sim.configured.get('192.0.2.1/32'), 'VIP-DRAIN');
  assert.ok(sim.state.holds['192.0.2.1/32']!.drain, 'still draining');
  assert.deepEqual(sim.steps([healthy, healthy]), ['delete 192.0.2.1/32', '-']);
  assert.deepEqual(sim.state.holds['192.0.2.1/32'], { reason: 'kernel', by: 'alice', since: 'x', names: ['web.tld'] });
});

test('the reason of a frozen VIP names the input not trusted', () => {
  const sim = new Sim(config());
  sim.steps([healthy, healthy]);
  const reason = (table: IpvsTable | VipError) => {
    sim.t += 60_000;
    const plan = planCycle({ config: sim.cfg, resolved: answers, ipvs: table, running: sim.running(), state: sim.state, now: new Date(sim.t) });
    sim.state = plan.state;
    return plan.rows.find((r) => r.vip.prefix === '192.0.2.1/32')!.why;
  };
  assert.equal(reason(new VipError('VIP_E_IPVS_UNREADABLE', 'x')), 'IPVS unreadable');
  assert.equal(reason(ipvs({})), 'IPVS table not believed');
  sim.steps([healthy]);
  assert.equal(reason(ipvs({ '192.0.2.2': [1, 1], '192.0.2.3': [1] })), 'virtual services vanished, not believed (1/2)');
});
