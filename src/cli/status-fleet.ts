// `status --fleet [NAME...]`: every VIP x DC x host from the fleet's published records; a summary a person can read at 200 hosts x 1,000 VIPs, everything under --json.
import { dcCell, fleetStatus, type FleetStatus } from '../core/fleet.js';
import { toVip } from '../core/prefix.js';
import { VipError } from '../core/errors.js';
import type { Deps } from './context.js';
import { resolveAll } from './change.js';
import { fleetStore } from './fleet.js';

export async function fleetStatusCommand(deps: Deps, names: string[]): Promise<number> {
  const { config, out } = deps;
  if (!config.fleet) throw new VipError('VIP_E_FLEET_NOT_CONFIGURED', 'status --fleet needs fleet mode: add a fleet section to the config (see README "Fleet mode")');
  let only: Set<string> | undefined;
  if (names.length > 0) {
    const { resolved, errors } = await resolveAll(deps, names);
    if (errors.length > 0) throw errors[0]!;
    only = new Set(resolved.flatMap((r) => r.addresses.map((a) => toVip(a).prefix)));
  }
  const view = await (await fleetStore(config)).view();
  if (view.skipped > 0) deps.log.warn({}, `${view.skipped} fleet record(s) are not v1 or not valid: not shown`);
  const st = fleetStatus(view.hosts, view.holds, deps.clock.now(), config.fleet.etcd.lease_ttl, only);
  if (deps.opts.json) out.json({ revision: view.revision, ...st });
  else out.data(formatFleet(st, Boolean(only)));
  return 0;
}

/** The readable form: hosts per DC, the fleet holds, then one line per VIP (least healthy first) with
 *  one "healthy/hosts" cell per DC; with NAMEs, one line per VIP x host as well. */
export function formatFleet(st: FleetStatus, detail: boolean): string {
  const dcs = [...new Set(st.hosts.map((h) => h.dc))].sort();
  const lines: string[] = [];
  const per = dcs.map((dc) => {
    const hs = st.hosts.filter((h) => h.dc === dc);
    const stale = hs.filter((h) => h.stale);
    return `${dc} ${hs.length}${stale.length ? ` (${stale.length} stale: ${stale.slice(0, 5).map((h) => h.host).join(', ')}${stale.length > 5 ? ', ...' : ''})` : ''}`;
  });
  lines.push(`fleet: ${st.hosts.length} host(s) with a live lease: ${per.join('; ') || 'none'}`);
  if (st.holds.length === 0) lines.push('fleet holds: none');
  for (const h of st.holds) lines.push(`fleet hold: dc ${h.dc} ${h.name} (${h.prefixes.join(', ')}) "${h.reason}" by ${h.by} since ${h.since}${h.forced ? ' (forced past the guard)' : ''}`);
  const head = ['VIP', 'HEALTHY', ...dcs.map((d) => d.toUpperCase())];
  const rows = st.vips.map((v) => [v.prefix, `${v.healthy}/${v.hosts.length}${v.healthy === 0 ? ' !' : ''}`, ...dcs.map((dc) => dcCell(v.hosts.filter((h) => h.dc === dc)))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  lines.push('', fmt(head), ...rows.map(fmt));
  const none = st.vips.filter((v) => v.healthy === 0).length;
  lines.push('', `${st.vips.length} VIP(s); ${none} announced by no healthy host ("!")`);
  if (detail) {
    lines.push('', fmt2(['VIP', 'HOST', 'ANNOUNCED', 'LIVE', 'WATCHDOG', 'HOLD', 'LAST SEEN']));
    const d = st.vips.flatMap((v) =>
      v.hosts.map((h) => [v.prefix, `${h.dc}/${h.host}`, h.routeMap ?? 'no', h.live === null ? '-' : String(h.live), h.state ?? '-', h.hold ? `${h.hold.source}: ${h.hold.reason} (${h.hold.by})` : '-', `${h.lastSeen}${h.stale ? ' STALE' : ''}`]),
    );
    lines.push(...d.map(fmt2));
  }
  return lines.join('\n');
}

function fmt2(r: string[]): string {
  const w = [24, 24, 12, 5, 9, 30];
  return r.map((c, i) => (i < w.length ? c.padEnd(w[i]!) : c)).join(' ');
}
