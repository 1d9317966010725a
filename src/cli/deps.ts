// Builds the dependencies a command receives from the global options; adapters load lazily so
// that `--help` and `--version` stay fast.
import { userInfo } from 'node:os';
import { loadConfig } from '../config/file.js';
import type { Config } from '../config/load.js';
import { createLog, type LogHandle } from '../adapters/log.js';
import { systemClock } from '../adapters/clock.js';
import { createStateStore } from '../adapters/state.js';
import type { Deps, GlobalOptions, Output } from './context.js';

export function makeOutput(): Output {
  return {
    data: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    json: (value) => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** The level of stderr: -v and -q move it; syslog keeps the configured level whatever they say, so
 *  `watchdog -q` under cron mails nothing routine and still leaves every change line in syslog. */
export function logLevel(opts: GlobalOptions, configured = 'info'): string {
  if (opts.verbose) return 'debug';
  if (opts.quiet) return configured === 'error' || configured === 'fatal' || configured === 'silent' ? configured : 'warn';
  return configured;
}

/** Log before the config is known (usage and config errors): plain stderr, no syslog. */
export function bootLog(opts: GlobalOptions): LogHandle {
  return createLog({ level: 'info', stderrLevel: logLevel(opts), json: false, syslog: false, tag: 'vip-mgmt', color: opts.color });
}

export function whoAmI(): string {
  return process.env.SUDO_USER || process.env.USER || userInfo().username;
}

export async function makeDeps(opts: GlobalOptions, configOverride?: Config): Promise<Deps & { log: LogHandle }> {
  const config = configOverride ?? (await loadConfig(opts.config));
  const log = createLog({
    level: config.log.level,
    stderrLevel: logLevel(opts, config.log.level),
    json: process.env.VIP_MGMT_LOG_FORMAT === 'json',
    syslog: config.log.syslog,
    tag: config.log.tag,
    color: opts.color,
  });
  const [{ resolverFromConfig }, { openSpeaker }, { guardSpeaker, prependRuleOf }] = await Promise.all([
    import('../adapters/dns.js'),
    import('../adapters/speaker.js'),
    import('../core/policy.js'),
  ]);
  return {
    opts,
    config,
    log,
    clock: systemClock,
    out: makeOutput(),
    store: createStateStore(config.state_dir, {
      onCompromised: (e) => log.error({}, `run lock lost: ${e.message}`),
    }),
    resolver: resolverFromConfig(config.dns),
    // vip_prefixes re-checked at the speaker boundary, whatever computed the changes
    speaker: guardSpeaker(
      openSpeaker({
        speaker: config.bgp.speaker,
        transport: config.bgp.transport,
        vtysh: config.bgp.vtysh,
        pathspace: config.bgp.pathspace || undefined,
        timeoutMs: config.bgp.timeout,
        asn: config.datacenters[config.dc]?.asn,
        prepend: prependRuleOf(config),
        bird: config.bgp.bird,
        exabgp: config.bgp.exabgp,
        gobgp: config.bgp.gobgp,
      }),
      config.vip_prefixes,
    ),
  };
}

/** The IPVS side of the watchdog: the reader adapter, configured. */
export async function makeIpvsPort(config: Config): Promise<import('./watchdog.js').IpvsPort> {
  const { createIpvsReader } = await import('../adapters/ipvs.js');
  return createIpvsReader({
    source: config.watchdog.ipvs.source,
    path: config.watchdog.ipvs.path,
    ipvsadm: config.watchdog.ipvs.ipvsadm,
    timeoutMs: config.bgp.timeout,
  });
}
