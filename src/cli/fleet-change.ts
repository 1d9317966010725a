// `-d NAME --dc DC` / `-a NAME --dc DC`: set or clear a fleet hold for a whole DC from any host, past the last-DC guard; and the guard and publishing around a local -a/-d.
import { EXIT, VipError } from '../core/errors.js';
import { fleetHoldsFor, holdName, type FleetHold } from '../core/fleet.js';
import { hostPrefixInside, targetsFor, dcPolicy } from '../core/policy.js';
import { toVip } from '../core/prefix.js';
import type { Deps } from './context.js';
import { report, resolveAll, servicesFor, step, targetsOf, type ChangeOptions, type ChangeRow } from './change.js';
import { currentFleetHolds, fleetHost, fleetStore, operatorGuard, publishHost, type Leaving } from './fleet.js';

export interface FleetChangeOptions extends ChangeOptions {
  force: boolean;
}

/** Publish this host now (after -a/-d): the running config and state as they are after the run.
 *  True when it was published. */
export async function publishNow(deps: Deps, by: string): Promise<boolean> {
  if (!deps.config.fleet || deps.opts.dryRun) return false;
  try {
    const [running, state] = await Promise.all([deps.speaker.readRunning(), deps.store.read()]);
    return (await publishHost(deps, by, running, state)) !== null;
  } catch (e) {
    deps.log.warn({}, `not published to the fleet: ${(e as Error).message}`);
    return false;
  }
}

/**
 * A local -d with fleet mode: the guard (this host leaving) before the step; exit 5 / 8 before any
 * change. This host's intent to withdraw is written to etcd before the guard reads the fleet (a
 * watchdog elsewhere withdrawing the same VIP at that moment sees it, or this guard sees that
 * watchdog's); the caller releases it once this host has published again (else it expires with its lease).
 */
export async function guardLocalDelete(deps: Deps, names: string[], opts: FleetChangeOptions): Promise<Leaving | null> {
  if (!deps.config.fleet || deps.config.fleet.guard === 'none') return null;
  const t = await targetsOf(deps, names, 'delete');
  if ('code' in t) return null; // the step reports DNS and policy problems itself
  const running = await deps.speaker.readRunning();
  const conf = new Set(running.networks.map((n) => n.prefix));
  const prefixes = t.targets.map((x) => x.vip.prefix).filter((p) => conf.has(p));
  const me = { dc: deps.config.dc, host: fleetHost(deps.config) };
  const g = await operatorGuard(deps, prefixes, (h) => h.dc === me.dc && h.host === me.host, {
    force: opts.force,
    reason: opts.reason,
    what: `-d on ${me.dc}/${me.host}`,
    leavingAnnounces: (p) => conf.has(p),
    announce: true,
  });
  return g?.leaving ?? null;
}

/**
 * Set (delete) or clear (add) the fleet hold of each NAME for DC. The VIPs are NAME's addresses
 * inside vip_prefixes, resolved here. A delete passes the last-DC guard first (every host of DC
 * leaving). When DC is this host's own, this host applies it at once (the hold stays in etcd, not
 * in local state); every other LB of DC applies it on its next cycle, a daemon at once.
 */
export async function fleetChangeCommand(deps: Deps, intent: 'add' | 'delete', names: string[], dc: string, opts: FleetChangeOptions): Promise<number> {
  const { config, log } = deps;
  if (!config.fleet) throw new VipError('VIP_E_FLEET_NOT_CONFIGURED', `--dc ${dc} sets a fleet hold, and fleet mode is not configured: add a fleet section to the config (see README "Fleet mode")`);
  if (!Object.hasOwn(config.datacenters, dc)) throw new VipError('VIP_E_USAGE', `--dc ${dc}: not one of the configured datacenters (${Object.keys(config.datacenters).join(', ')})`);
  if (names.length === 0) throw new VipError('VIP_E_USAGE', `${intent} needs at least one NAME`);
  const { resolved, errors } = await resolveAll(deps, names);
  if (errors.length > 0) return report(deps, [], errors, errors.every((e) => e.exit === errors[0]!.exit) ? errors[0]!.exit : EXIT.FAILED);
  const outside: VipError[] = [];
  const holds = resolved.map((r) => {
    const prefixes: string[] = [];
    for (const a of r.addresses) {
      const p = toVip(a).prefix;
      if (hostPrefixInside(p, config.vip_prefixes)) prefixes.push(p);
      else outside.push(new VipError('VIP_E_POLICY_PREFIX', `${a} (from ${r.name}) is outside vip_prefixes: not touched`, { vip: a }));
    }
    return { name: holdName(r.name), prefixes: [...new Set(prefixes)].sort() };
  });
  if (outside.length > 0) return report(deps, [], outside, EXIT.POLICY);

  const all = [...new Set(holds.flatMap((h) => h.prefixes))].sort();
  const guard = () => operatorGuard(deps, all, (h) => h.dc === dc, { force: opts.force, reason: opts.reason, what: `the fleet hold on dc ${dc}` });
  let guarded = intent === 'delete' ? await guard() : null;
  const since = deps.clock.now().toISOString();
  const by = `${opts.by}@${fleetHost(config)}`;
  const reason = opts.reason ?? (intent === 'add' ? 'restore' : 'maintenance');
  const records: FleetHold[] = holds.map((h) => ({ v: 1, dc, name: h.name, prefixes: h.prefixes, reason, by, since, ...(opts.force && intent === 'delete' ? { forced: true } : {}) }));
  const fleetRows = records.map((h) => ({ dc, name: h.name, prefixes: h.prefixes, hold: intent === 'delete' ? ('set' as const) : ('cleared' as const), reason, by, since }));

  if (deps.opts.dryRun) return printFleet(deps, fleetRows, [], [], EXIT.OK, true);
  const store = await fleetStore(config);
  if (intent === 'delete') {
    // all at once, and only if no other fleet hold changed since the guard's view; else decide again, once
    let set = await store.setHolds(records, guarded?.revision);
    if (!set) {
      log.info({}, 'another fleet hold changed while the last-DC guard was checked: checking it again');
      guarded = await guard();
      set = await store.setHolds(records, guarded?.revision);
    }
    if (!set) throw new VipError('VIP_E_LOCKED', `fleet holds keep changing while the last-DC guard is checked (another operator?): nothing was set; run again`);
  }
  for (const h of records) {
    if (intent === 'add' && !(await store.clearHold(dc, h.name))) log.info({ dc, name: h.name }, `no fleet hold on dc ${dc} for ${h.name} to clear`);
    log.info(
      { dc, name: h.name, prefixes: h.prefixes.join(','), reason, by, action: intent },
      intent === 'delete' ? `Fleet hold set on dc ${dc} for ${h.name} (${h.prefixes.join(', ')}): ${reason}` : `Fleet hold cleared on dc ${dc} for ${h.name}`,
    );
  }

  // This host's own DC: act now, as every LB of the DC will.
  let rows: ChangeRow[] = [];
  let errs: VipError[] = [];
  let code: number = EXIT.OK;
  if (dc === config.dc) {
    // every service's answer, as for a local -a/-d: a VIP's rank is its claiming service's
    const policy = dcPolicy(config, config.dc, await servicesFor(deps, resolved));
    const t = targetsFor(config, policy, resolved, intent);
    if (t.errors.length === 0) {
      // a hold always wins: a VIP another fleet hold of this DC still covers (another name of it)
      // stays withdrawn; the next cycle would withdraw it again anyway
      let targets = t.targets;
      if (intent === 'add') {
        // (the ones just cleared left out: a fallback to the holds cached in state still lists them)
        const cleared = new Set(records.map((r) => r.name));
        const still = fleetHoldsFor(dc, (await currentFleetHolds(deps, await deps.store.read())).filter((h) => !(h.dc === dc && cleared.has(h.name))));
        for (const x of targets.filter((x) => Object.hasOwn(still, x.vip.prefix))) {
          const h = still[x.vip.prefix]!;
          log.warn({ vip: x.vip.address, prefix: x.vip.prefix, holds: h.names.join(',') }, `${x.vip.prefix} stays withdrawn: still held by the fleet hold ${h.names.join(', ')} on dc ${dc} ("${h.reason}" by ${h.by} since ${h.since}); clear it with vip-mgmt -a ${h.names.join(' ')} --dc ${dc}`);
        }
        targets = targets.filter((x) => !Object.hasOwn(still, x.vip.prefix));
      }
      if (targets.length > 0) {
        const r = await step(deps, targets, resolved, { kind: intent }, { ...opts, fleetOnly: true, reason });
        rows = r.rows;
        errs = r.errors;
        code = r.code;
      }
    } else {
      errs = t.errors;
      code = EXIT.FAILED;
      log.warn({}, `the fleet hold is ${intent === 'delete' ? 'set' : 'cleared'}, but this host could not apply it now; its watchdog will`);
    }
    await publishNow(deps, intent);
  }
  return printFleet(deps, fleetRows, rows, errs, code, false);
}

function printFleet(deps: Deps, fleet: { dc: string; name: string; prefixes: string[]; hold: 'set' | 'cleared'; reason: string; by: string; since: string }[], rows: ChangeRow[], errors: VipError[], code: number, dry: boolean): number {
  if (deps.opts.json) {
    deps.out.json({
      changes: rows.map(({ vip, prefix, action, reason, verified }) => ({ vip, prefix, action, reason, verified })),
      fleet: fleet.map((f) => ({ ...f, ...(dry ? { planned: true } : {}) })),
      errors: errors.map((e) => ({ code: e.code, message: e.message, ...(typeof e.details.vip === 'string' ? { vip: e.details.vip } : {}) })),
    });
    return code;
  }
  for (const f of fleet) {
    deps.out.data(`fleet hold ${dry ? `would be ${f.hold}` : f.hold} on dc ${f.dc}: ${f.name} (${f.prefixes.join(', ') || 'no VIP inside vip_prefixes'})${f.hold === 'set' ? `  ${f.reason}` : ''}`);
  }
  if (!dry && fleet.length > 0) {
    deps.out.data(`every LB of dc ${fleet[0]!.dc} ${fleet[0]!.hold === 'set' ? 'withdraws' : 'restores'} these on its next watchdog cycle (a daemon at once); vip-mgmt status --fleet shows it`);
  }
  return report({ ...deps, opts: { ...deps.opts, json: false } }, rows, errors, code);
}

/** A local -a with fleet mode: a VIP a fleet hold of this DC binds is not announced (a hold always
 *  wins, and the next cycle would withdraw it again): exit 5 saying which hold and how to clear it. */
export async function refuseFleetHeld(deps: Deps, names: string[]): Promise<void> {
  if (!deps.config.fleet) return;
  const t = await targetsOf(deps, names, 'add');
  if ('code' in t) return; // the step reports DNS and policy problems itself
  const holds = fleetHoldsFor(deps.config.dc, await currentFleetHolds(deps, await deps.store.read()));
  const held = t.targets.filter((x) => Object.hasOwn(holds, x.vip.prefix));
  if (held.length === 0) return;
  const lines = held.map((x) => {
    const h = holds[x.vip.prefix]!;
    return `${x.vip.prefix} (fleet hold ${h.names.join(', ')}: "${h.reason}" by ${h.by} since ${h.since})`;
  });
  const clear = [...new Set(held.flatMap((x) => holds[x.vip.prefix]!.names))].join(' ');
  throw new VipError('VIP_E_POLICY_FLEET_HOLD', `held by a fleet hold on dc ${deps.config.dc}, so not announced: ${lines.join(', ')}; clear it first: vip-mgmt -a ${clear} --dc ${deps.config.dc}`, { prefixes: held.map((x) => x.vip.prefix) });
}
