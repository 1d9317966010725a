// `status [NAME...]`: one row per VIP, as a table or SPEC's JSON shape.
import { statusRows, type StatusRow } from '../core/status.js';
import type { ResolvedName } from '../core/types.js';
import type { Deps } from './context.js';
import { resolveAll } from './change.js';
import { makeIpvsPort } from './deps.js';
import { dcPolicy, sortedTargets } from '../core/policy.js';
import { ipvsVips, liveCounts as countLive } from '../core/live.js';
import { isVipError } from '../core/errors.js';
import { Chalk } from 'chalk';

/** Live real servers and the withdraw threshold per VIP prefix; null when this host has no readable
 *  IPVS table (a workstation, or the table is gone): status still shows the BGP side. */
async function liveCounts(deps: Deps, resolved: ResolvedName[]): Promise<Map<string, { live: number; threshold: number }> | undefined> {
  try {
    const { config } = deps;
    const table = await (await makeIpvsPort(config)).read();
    const targets = sortedTargets(dcPolicy(config, config.dc, resolved, config.watchdog.discover ? ipvsVips(table) : []));
    const live = countLive(table, targets.map((t) => t.vip.address), { fwmarks: config.watchdog.fwmarks, exclude: config.watchdog.exclude_realservers });
    return new Map(targets.map((t) => [t.vip.prefix, { live: live.get(t.vip.address)?.live ?? 0, threshold: t.thresholds.min }]));
  } catch (e) {
    deps.log.debug({ code: isVipError(e) ? e.code : undefined }, `live counts not shown: ${(e as Error).message}`);
    return undefined;
  }
}

export async function statusCommand(deps: Deps, names: string[]): Promise<number> {
  const { config, speaker, store, log, out } = deps;
  const asked = names.length > 0 ? names : config.services.map((s) => s.name);
  const { resolved, errors } = await resolveAll(deps, asked);
  let state = await store.read();
  if (config.fleet) {
    // the fleet holds binding this DC show as holds (reason prefixed), the local one winning
    const [{ currentFleetHolds }, { fleetHoldsFor }] = await Promise.all([import('./fleet.js'), import('../core/fleet.js')]);
    const fleet = fleetHoldsFor(config.dc, await currentFleetHolds(deps, state));
    const shown = Object.fromEntries(Object.entries(fleet).map(([p, h]) => [p, { ...h, reason: `fleet hold on dc ${config.dc}: ${h.reason}` }]));
    state = { ...state, holds: { ...shown, ...state.holds } };
  }
  const all: ResolvedName[] = [...resolved];
  for (const e of errors) {
    // A name that does not resolve right now still has VIPs we know of: use the watchdog's cached answer.
    const name = String(e.details.name ?? '');
    const cached = Object.hasOwn(state.dns, name) ? state.dns[name] : undefined;
    log.warn({ code: e.code }, `${e.message}${cached ? ' (showing the last good answer)' : ''}`);
    if (cached) all.push({ name, chain: cached.chain, addresses: cached.addresses, ttl: 0 });
  }
  if (names.length > 0 && errors.length > 0 && all.length === 0) return errors[0]!.exit;
  const running = await speaker.readRunning();
  const live = await liveCounts(deps, all);
  const input = { vipPrefixes: config.vip_prefixes, resolved: all, running, state, onlyResolved: names.length > 0, live };
  // The row set does not depend on the table, so list the prefixes first and look them all up at once.
  const table = await speaker.lookup(statusRows({ ...input, table: new Map() }).map((r) => r.prefix));
  const rows = statusRows({ ...input, table });
  if (deps.opts.json) {
    out.json({
      dc: config.dc,
      vips: rows.map((r) => ({
        vip: r.vip,
        prefix: r.prefix,
        names: r.names,
        configured: r.configured,
        announced: r.announced,
        valid: r.valid,
        best: r.best,
        advertisedTo: r.advertisedTo,
        routeMap: r.routeMap,
        live: r.live,
        hold: r.hold,
        watchdog: r.watchdog,
        ...(r.failing ? { failing: r.failing } : {}),
      })),
    });
  } else {
    out.data(formatTable(rows, deps.opts.color));
  }
  return 0;
}

const HEAD = ['VIP', 'NAMES', 'CONFIGURED', 'ANNOUNCED', 'ROUTE-MAP', 'LIVE', 'HOLD', 'WATCHDOG'];

type Paint = (text: string) => string;

/** Aligned columns; with COLOR (a TTY, no --no-color, no NO_COLOR) the verdicts are coloured after
 *  padding, so escape codes never break the alignment. */
export function formatTable(rows: StatusRow[], color: boolean): string {
  const c = new Chalk({ level: color ? 1 : 0 });
  const plain: Paint = (t) => t;
  const yesNo = (ok: boolean): Paint => (ok ? c.green : c.red);
  const stateColor: Record<string, Paint> = { up: c.green, down: c.red, held: c.yellow, falling: c.yellow, rising: c.yellow, draining: c.yellow, demoted: c.yellow, unknown: c.gray };
  const cells = rows.map((r): [string, Paint][] => [
    [r.prefix, c.bold],
    [r.names.join(',') || '-', plain],
    [r.configured ? 'yes' : 'no', yesNo(r.configured)],
    [r.announced ? `yes (${r.advertisedTo} peer${r.advertisedTo === 1 ? '' : 's'})` : r.valid ? 'valid, not best' : 'no', r.announced ? c.green : r.valid ? c.yellow : c.red],
    [r.routeMap ?? '-', plain],
    [r.live === null ? '-' : r.threshold === null ? String(r.live) : `${r.live}/${r.threshold}`, r.live === null || r.threshold === null ? plain : yesNo(r.live >= r.threshold)],
    [r.hold ? `${r.hold.reason} (${r.hold.by}, ${r.hold.since}${r.hold.drainUntil ? `, draining until ${r.hold.drainUntil}` : ''})` : '-', r.hold ? c.yellow : plain],
    [r.failing?.length ? `${r.watchdog} (failing: ${r.failing.join('; ')})` : r.watchdog, stateColor[r.watchdog] ?? plain],
  ]);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]![0].length)));
  const line = (row: [string, Paint][]) => row.map(([v, paint], i) => paint(i === row.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [line(HEAD.map((h) => [h, c.dim] as [string, Paint])), ...cells.map(line)].join('\n');
}
