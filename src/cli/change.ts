// `add` / `delete` (-a / -d): resolve -> policy -> lock -> plan -> dry-run stop -> state (holds, journal) -> ONE apply -> read back -> verify.
import { EXIT, VipError, isVipError } from '../core/errors.js';
import { missingRouteMaps, planAdd, planDelete, speakerChanges, verify, type PlannedChange, type Verdict } from '../core/plan.js';
import { dcPolicy, serviceKey, targetsFor } from '../core/policy.js';
import { cacheFresh, fromCache } from '../core/dnscache.js';
import { clearHolds, setHolds } from '../core/state.js';
import type { PrefixState, ResolvedName, RunningBgp, Speaker, State } from '../core/types.js';
import type { Deps } from './context.js';

export interface ChangeOptions {
  reason?: string;
  by: string;
  /** how long to wait for another run's lock before giving up with exit 75 */
  lockWaitMs: number;
}

interface ChangeRow {
  vip: string;
  prefix: string;
  action: PlannedChange['action'];
  reason: string;
  verified: boolean;
  routeMap: string | null;
  names: string[];
  problem?: string;
}

const errorJson = (e: VipError) => ({
  code: e.code,
  message: e.message,
  ...(typeof e.details.vip === 'string' ? { vip: e.details.vip } : {}),
});

/** Resolve every name; all of them must succeed before anything is changed. */
export async function resolveAll(deps: Pick<Deps, 'resolver'>, names: string[]): Promise<{ resolved: ResolvedName[]; errors: VipError[] }> {
  const results = await Promise.allSettled(names.map((n) => deps.resolver.resolve(n)));
  const resolved: ResolvedName[] = [];
  const errors: VipError[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') resolved.push(r.value);
    else errors.push(isVipError(r.reason) ? r.reason : new VipError('VIP_E_FAILED', `${names[i]}: ${String(r.reason)}`));
  });
  return { resolved, errors };
}

/** Read back until every change verifies or the deadline passes (bgpd applies asynchronously). */
export async function readBack(
  speaker: Speaker,
  plan: PlannedChange[],
  intent: 'add' | 'delete',
  timeoutMs: number,
): Promise<{ verdicts: Verdict[]; running: RunningBgp; table: Map<string, PrefixState> }> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 400)) {
    const prefixes = plan.map((c) => c.vip.prefix);
    const { running, table } = speaker.snapshot ? await speaker.snapshot(prefixes) : { running: await speaker.readRunning(), table: await speaker.lookup(prefixes) };
    const verdicts = plan.map((c) => verify(intent, c, running, table.get(c.vip.prefix)));
    if (verdicts.every((v) => v.verified) || Date.now() >= deadline) return { verdicts, running, table };
    await new Promise((r) => setTimeout(r, delay));
  }
}

export async function changeCommand(deps: Deps, intent: 'add' | 'delete', names: string[], opts: ChangeOptions): Promise<number> {
  const { config, speaker, store, log, out } = deps;
  if (names.length === 0) throw new VipError('VIP_E_USAGE', `${intent} needs at least one NAME`);
  const asn = config.datacenters[config.dc]!.asn;
  const reason = opts.reason ?? (intent === 'delete' ? 'maintenance' : 'restore');

  const report = (rows: ChangeRow[], errors: VipError[], code: number): number => {
    if (deps.opts.json) {
      out.json({
        changes: rows.map(({ vip, prefix, action, reason: r, verified }) => ({ vip, prefix, action, reason: r, verified })),
        errors: errors.map(errorJson),
      });
    } else {
      for (const r of rows) {
        const state = deps.opts.dryRun ? 'planned' : r.verified ? 'verified' : 'NOT VERIFIED';
        out.data(`${r.prefix.padEnd(24)} ${r.action.padEnd(6)} ${(r.routeMap ?? '-').padEnd(12)} ${state.padEnd(12)} ${r.names.join(',')}  ${r.problem ?? r.reason}`);
      }
      for (const e of errors) log.error({ code: e.code, ...e.details }, e.message);
    }
    return code;
  };
  const fail = (errors: VipError[]) =>
    report([], errors, errors.every((e) => e.exit === errors[0]!.exit) ? errors[0]!.exit : EXIT.FAILED);

  // 1. Everything that can refuse the run happens before any change, and DNS before the lock.
  const { resolved, errors: dnsErrors } = await resolveAll(deps, names);
  if (dnsErrors.length > 0) return fail(dnsErrors);
  const services = await servicesFor(deps, resolved);
  const policy = dcPolicy(config, config.dc, services);
  const { targets, errors: policyErrors } = targetsFor(config, policy, resolved, intent);
  if (policyErrors.length > 0) return fail(policyErrors);

  const lock = deps.opts.dryRun ? null : await store.lock({ waitMs: opts.lockWaitMs });
  try {
    const running = await speaker.readRunning();
    if (running.asn === null) {
      throw new VipError('VIP_E_SPEAKER_NO_BGP', `the speaker has no "router bgp" configured; load the rendered snippet first (vip-mgmt render)`);
    }
    if (running.asn !== asn) {
      throw new VipError('VIP_E_CONFIG_ASN', `the speaker runs "router bgp ${running.asn}" but datacenters.${config.dc}.asn is ${asn}; fix the config`);
    }
    const plan = intent === 'add' ? planAdd(targets, running) : planDelete(targets, running, reason);
    const missing = missingRouteMaps(plan, running);
    if (missing.length > 0) {
      return fail(
        missing.map(
          (m) =>
            new VipError('VIP_E_POLICY_ROUTEMAP', `route-map ${m} does not exist in the running config; FRR would silently ignore the network statement. Load the rendered snippet (vip-mgmt render) first`, {
              routeMap: m,
            }),
        ),
      );
    }
    const rowsOf = (verdicts?: Verdict[]): ChangeRow[] =>
      plan.map((c, i) => ({
        vip: c.vip.address,
        prefix: c.vip.prefix,
        action: c.action,
        reason: c.reason,
        routeMap: c.routeMap,
        names: c.names,
        verified: verdicts?.[i]?.verified ?? false,
        problem: verdicts?.[i]?.problem,
      }));

    if (deps.opts.dryRun) return report(rowsOf(), [], EXIT.OK);

    // 2. State first, speaker second: the hold (delete) is set, or cleared (add), and the
    //    announcement journal updated before the speaker is touched, so a crash in between never
    //    lets the watchdog undo the operator, and a state write that fails (full disk) changes nothing.
    let state = await store.read();
    const now = deps.clock.now().toISOString();
    const prefixes = targets.map((t) => t.vip.prefix);
    const announced = { ...(state.announced ?? {}) };
    if (intent === 'delete') {
      state = setHolds(state, prefixes, { reason, by: opts.by, since: now, names: resolved.map((r) => r.name) });
      for (const p of prefixes) delete announced[p];
    } else {
      state = clearHolds(state, prefixes);
      for (const t of targets) announced[t.vip.prefix] = { routeMap: t.routeMap, source: t.source === 'discover' ? 'literal' : t.source, since: announced[t.vip.prefix]?.since ?? now };
    }
    await store.write({ ...state, announced }, lock!);

    // 3. One speaker call for the whole run, if the lock is still ours.
    const changes = speakerChanges(plan);
    for (const c of plan.filter((p) => p.action !== 'none')) {
      const fields = { vip: c.vip.address, prefix: c.vip.prefix, action: c.action, service: c.names.join(','), dc: config.dc, reason: c.reason };
      log.info(fields, `${c.action === 'add' ? 'Adding' : 'Deleting'} route to ${c.vip.prefix}`);
    }
    if (changes.length > 0) {
      await lock!.assertHeld();
      try {
        await speaker.apply(asn, changes);
      } catch (e) {
        if (isVipError(e)) {
          log.warn(
            {},
            intent === 'delete'
              ? 'the maintenance hold is set, but the withdraw failed: run vip-mgmt -d again once the speaker is fixed'
              : 'the maintenance hold is cleared, but the announce failed: run vip-mgmt -a again once the speaker is fixed',
          );
        }
        throw e;
      }
    }

    // 4. Read back and verify every VIP, no-ops included.
    const { verdicts } = await readBack(speaker, plan, intent, config.bgp.verify_timeout);
    const rows = rowsOf(verdicts);
    const errors = rows
      .filter((r) => !r.verified)
      .map((r) => new VipError('VIP_E_VERIFY', r.problem ?? `${r.prefix} did not verify`, { vip: r.vip }));
    const anyOk = rows.some((r) => r.verified && r.action !== 'none');
    const code = errors.length === 0 ? EXIT.OK : anyOk ? EXIT.PARTIAL : EXIT.FAILED;
    return report(rows, errors, code);
  } finally {
    await lock?.release();
  }
}

/**
 * Every configured service's answer, for the policy: the asked ones as just resolved, the others
 * from the watchdog's DNS cache when fresh, else asked now (a literal address keeps the rank of the
 * service that claims it, so the policy needs them all). One that does not answer falls back to
 * its cached answer, stale or not; with none it is left out and the policy reports it unresolved.
 */
async function servicesFor(deps: Deps, asked: ResolvedName[]): Promise<ResolvedName[]> {
  const byName = new Map(asked.map((r) => [serviceKey(r.name), r]));
  let cache: State['dns'] = {};
  try {
    cache = (await deps.store.read()).dns;
  } catch {
    // an unreadable state is reported when the run reads it under the lock
  }
  const now = deps.clock.now();
  const out = await Promise.all(
    deps.config.services.map(async (s): Promise<ResolvedName | null> => {
      const have = byName.get(s.name);
      if (have) return have;
      const cached = Object.hasOwn(cache, s.name) ? cache[s.name] : undefined;
      if (cached && cacheFresh(cached, now)) return fromCache(s.name, cached);
      try {
        return await deps.resolver.resolve(s.name);
      } catch {
        return cached ? fromCache(s.name, cached) : null;
      }
    }),
  );
  return out.filter((r): r is ResolvedName => r !== null);
}
