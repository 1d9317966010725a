// Prometheus text exposition of one watchdog cycle, for node_exporter's textfile collector.
import type { CycleRow } from './cycle.js';

export interface CycleMetrics {
  /** rows of the cycle (empty when it failed before deciding) */
  rows: CycleRow[];
  /** prefixes configured in the speaker after the cycle, when known */
  announced: Set<string> | null;
  holds: Set<string>;
  finishedAt: Date;
  durationMs: number;
  exitCode: number;
  errors: number;
  /** host health checks the cycle decided on (absent or empty: none configured) */
  checks?: CheckSample[];
}

/** One host health check's latest outcome. */
export interface CheckSample {
  service: string;
  /** core/checks.ts checkLabel */
  check: string;
  type: string;
  ok: boolean;
  seconds: number;
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labels = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(',')}}`;

/** The .prom file text: HELP/TYPE once per metric, one sample per VIP, sorted as the rows are. */
export function formatMetrics(m: CycleMetrics): string {
  const out: string[] = [];
  const metric = (name: string, help: string, samples: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [l, v] of samples) out.push(`${name}${Object.keys(l).length ? labels(l) : ''} ${Number.isFinite(v) ? v : 'NaN'}`);
  };
  const per = (f: (r: CycleRow) => number | null) =>
    m.rows.flatMap((r): [Record<string, string>, number][] => {
      const v = f(r);
      return v === null ? [] : [[{ vip: r.vip.address, prefix: r.vip.prefix, names: r.names.join(',') }, v]];
    });
  metric('vip_mgmt_vip_announced', '1 when the VIP is configured in the BGP speaker after the last cycle', per((r) => (m.announced ? (m.announced.has(r.vip.prefix) ? 1 : 0) : null)));
  metric('vip_mgmt_vip_live_realservers', 'live IPVS real servers behind the VIP (weakest virtual service)', per((r) => r.live));
  metric('vip_mgmt_vip_held', '1 when the VIP has a maintenance hold', per((r) => (m.holds.has(r.vip.prefix) ? 1 : 0)));
  metric('vip_mgmt_watchdog_last_run_timestamp_seconds', 'when the last watchdog cycle finished', [[{}, Math.round(m.finishedAt.getTime() / 1000)]]);
  metric('vip_mgmt_watchdog_duration_seconds', 'wall time of the last watchdog cycle', [[{}, m.durationMs / 1000]]);
  metric('vip_mgmt_watchdog_errors', 'errors in the last watchdog cycle', [[{}, m.errors]]);
  metric('vip_mgmt_watchdog_exit_code', 'exit code of the last watchdog cycle (0 = success)', [[{}, m.exitCode]]);
  if (m.checks && m.checks.length > 0) {
    const l = (c: CheckSample) => ({ service: c.service, type: c.type, check: c.check });
    metric('vip_mgmt_check_success', '1 when the host health check passed at its last run', m.checks.map((c) => [l(c), c.ok ? 1 : 0]));
    metric('vip_mgmt_check_duration_seconds', 'how long the last run of the host health check took', m.checks.map((c) => [l(c), c.seconds]));
  }
  return `${out.join('\n')}\n`;
}
