// The vip-mgmt command line: commander wiring for every command and the one top-level catch.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, VipError, isVipError } from '../core/errors.js';
import { checkDuration, type DurationRules } from '../core/duration.js';
import { DEFAULT_CONFIG_PATH } from '../config/paths.js';
import type { GlobalOptions } from './context.js';
import { VERSION } from './version.js';
import { escapeLines, printable } from '../core/text.js';

type Handler = (g: GlobalOptions) => Promise<number>;

function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as Record<string, unknown>;
  return {
    config: (o.config as string | undefined) ?? process.env.VIP_MGMT_CONFIG ?? DEFAULT_CONFIG_PATH,
    json: Boolean(o.json),
    dryRun: Boolean(o.dryRun),
    quiet: Boolean(o.quiet),
    verbose: Boolean(o.verbose),
    color: o.color !== false && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  };
}

async function withDeps<T>(g: GlobalOptions, fn: (deps: Awaited<ReturnType<typeof import('./deps.js').makeDeps>>) => Promise<T>): Promise<T> {
  const { makeDeps } = await import('./deps.js');
  const deps = await makeDeps(g);
  try {
    return await fn(deps);
  } finally {
    await deps.log.flush();
  }
}

interface ChangeFlags {
  reason?: string;
  lockWait?: string;
  graceful?: string;
  dc?: string;
  force?: boolean;
}

async function change(g: GlobalOptions, intent: 'add' | 'delete', names: string[], f: ChangeFlags): Promise<number> {
  const [{ changeCommand }, { whoAmI }] = await Promise.all([import('./change.js'), import('./deps.js')]);
  const lock = checkDuration(f.lockWait ?? '10s', LOCK_WAIT_RULES);
  if ('problem' in lock) throw new VipError('VIP_E_USAGE', `--lock-wait: ${lock.problem}`);
  if (f.graceful !== undefined && intent === 'add') throw new VipError('VIP_E_USAGE', '--graceful drains: use it with -d / delete');
  const graceful = f.graceful === undefined ? null : checkDuration(f.graceful, GRACEFUL_RULES);
  if (graceful && 'problem' in graceful) throw new VipError('VIP_E_USAGE', `--graceful: ${graceful.problem}`);
  const gracefulMs = graceful && 'ms' in graceful ? graceful.ms : null;
  if (f.force && intent === 'add') throw new VipError('VIP_E_USAGE', '--force is for -d / delete (past the fleet\'s last-DC guard)');
  if (f.dc !== undefined && graceful) throw new VipError('VIP_E_USAGE', '--graceful drains this host; a fleet hold (--dc) withdraws on every LB of the DC: use one or the other');
  const opts = { reason: f.reason, by: whoAmI(), lockWaitMs: lock.ms, force: Boolean(f.force) };
  return withDeps(g, async (deps) => {
    if (f.dc !== undefined) {
      const { fleetChangeCommand } = await import('./fleet-change.js');
      return fleetChangeCommand(deps, intent, names, f.dc, opts);
    }
    if (!deps.config.fleet) return local(deps);
    // fleet mode: the last-DC guard before a local withdrawal, and this host published after every run
    const { guardLocalDelete, publishNow, refuseFleetHeld } = await import('./fleet-change.js');
    const leaving = intent === 'delete' ? await guardLocalDelete(deps, names, opts) : (await refuseFleetHeld(deps, names), null);
    const code = await local(deps);
    // the withdrawal announced to the fleet ends once the record says it; a run that threw leaves it to expire
    if ((await publishNow(deps, intent)) && leaving) await leaving.release().catch(() => undefined);
    return code;
  });
  async function local(deps: Awaited<ReturnType<typeof import('./deps.js').makeDeps>>): Promise<number> {
    // --graceful wins over drain.graceful; 0 (either) is a plain withdraw
    const ms = gracefulMs ?? deps.config.drain.graceful;
    if (intent === 'delete' && ms > 0) {
      const { gracefulDelete } = await import('./drain.js');
      return gracefulDelete(deps, names, ms, opts);
    }
    return changeCommand(deps, intent, names, opts);
  }
}

const GRACEFUL_HELP = 'graceful drain (RFC 8326): announce with route-map VIP-DRAIN for DURATION, then withdraw (default drain.graceful; 0 = withdraw at once)';
const GRACEFUL_RULES: DurationRules = { allowZero: true };

const DC_HELP = "fleet mode: set (-d) or clear (-a) a fleet hold for every LB of this DC, from any host; nothing changes here unless it is this host's DC";
const FORCE_HELP = 'fleet mode: withdraw even when the last-DC guard refuses (or etcd cannot be asked); the reason is logged';

const LOCK_WAIT_HELP = 'wait this long for another run (e.g. the watchdog) to finish, then exit 75 (0, 500ms, 10s...)';
const LOCK_WAIT_RULES: DurationRules = { allowZero: true };

/** Commander's check of a DURATION option: the text goes on unchanged, a bad one is a usage error
 *  (exit 2) naming the option before anything runs. Same rules as the config's durations. */
function durationArg(rules: DurationRules = {}): (value: string) => string {
  return (value) => {
    const r = checkDuration(value, rules);
    if ('problem' in r) throw new InvalidArgumentError(r.problem);
    return value;
  };
}

export function buildProgram(run: (h: Handler, cmd: Command) => Promise<void>): Command {
  const program = new Command('vip-mgmt')
    .description('Announce and withdraw service VIPs over BGP (FRR, Quagga, ExaBGP or GoBGP: bgp.speaker) from DNS names, IPVS health and per-DC AS-path ranking.')
    .version(VERSION, '-V, --version')
    .option('-c, --config <path>', `config file (default: $VIP_MGMT_CONFIG or ${DEFAULT_CONFIG_PATH})`)
    .option('--json', 'machine-readable output on stdout')
    .option('--dry-run', 'print the plan, change nothing')
    .option('-q, --quiet', 'stderr only: just warnings and errors there; syslog still gets every line log.level allows')
    .option('-v, --verbose', 'stderr only: debug lines too; syslog keeps log.level')
    .option('--no-color', 'no colours, even on a terminal')
    .addOption(new Option('-a, --add <names...>', 'same as: vip-mgmt add NAME...').conflicts('delete'))
    .option('-d, --delete <names...>', 'same as: vip-mgmt delete NAME...')
    .option('--reason <text>', 'why (stored with the maintenance hold of -d)')
    .option('--lock-wait <duration>', LOCK_WAIT_HELP, durationArg(LOCK_WAIT_RULES), '10s')
    .option('--graceful <duration>', GRACEFUL_HELP, durationArg(GRACEFUL_RULES))
    .option('--dc <name>', DC_HELP)
    .option('--force', FORCE_HELP)
    .showHelpAfterError('(run vip-mgmt --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  vip-mgmt -d service.tld --reason "kernel upgrade"   drain this DC for service.tld
  vip-mgmt -a service.tld                             announce it again, clearing the hold
  vip-mgmt status --json                              every VIP, machine-readable
  vip-mgmt watchdog                                   one watchdog cycle (cron form)
  vip-mgmt render --dc par1 > /etc/frr/vip-mgmt.conf  this DC's FRR snippet
  vip-mgmt -d service.tld --dc par1 --reason "fibre cut"   fleet mode: drain every LB of par1, from any host
  vip-mgmt -a service.tld --dc par1                   fleet mode: clear that fleet hold
  vip-mgmt status --fleet                             fleet mode: every VIP x DC x host

Exit codes: 0 ok, 1 failed, 2 usage, 3 config, 4 DNS, 5 policy, 6 speaker unavailable,
7 partial, 8 the fleet store (etcd) is unavailable, 10 render --check differs,
75 another run holds the lock (or another watchdog daemon runs). In fleet mode a withdrawal that
would leave a VIP announced by no healthy host in any DC is refused with exit 5 (--force overrides).

Environment:
  VIP_MGMT_CONFIG      the config file when -c is not given
  VIP_MGMT_LOG_FORMAT  json: logs on stderr as JSON lines
  VIP_MGMT_CACHE_DIR   where validated configs are cached ("" turns it off; default
                       /var/cache/vip-mgmt as root, else $XDG_CACHE_HOME/vip-mgmt)`,
    )
    .action(async (_o, cmd: Command) => {
      const o = cmd.opts() as { add?: string[]; delete?: string[] } & ChangeFlags;
      if (cmd.args.length > 0 && (o.add || o.delete)) {
        // `-d a.tld --reason R b.tld`: b.tld is no command, and it is not drained either
        throw new VipError('VIP_E_USAGE', `"${printable(cmd.args[0]!)}" comes after another option: give every NAME right after ${o.add ? '-a' : '-d'} (vip-mgmt ${o.add ? '-a' : '-d'} NAME... --reason TEXT)`);
      }
      if (cmd.args.length > 0) unknownCommand(cmd, cmd.args[0]!);
      if (o.add) return run((g) => change(g, 'add', o.add!, o), cmd);
      if (o.delete) return run((g) => change(g, 'delete', o.delete!, o), cmd);
      cmd.help({ error: true });
    });

  program
    .command('add')
    .description("resolve each NAME to its VIPs, clear their maintenance holds, announce them with this DC's route-map, verify")
    .argument('<names...>', 'DNS names (CNAMEs followed) or literal IPv4/IPv6 addresses')
    .option('--reason <text>', 'why (logged)')
    .option('--lock-wait <duration>', LOCK_WAIT_HELP, durationArg(LOCK_WAIT_RULES))
    .option('--dc <name>', DC_HELP)
    .addHelpText('after', '\nExamples:\n  vip-mgmt add service.tld\n  vip-mgmt -a service.tld other.tld --dry-run\n  vip-mgmt add 192.0.2.10 --json')
    .action(async (names: string[], _o, cmd: Command) => run((g) => change(g, 'add', names, cmd.optsWithGlobals() as ChangeFlags), cmd));

  program
    .command('delete')
    .description('resolve each NAME, set a maintenance hold, withdraw its VIPs, verify')
    .argument('<names...>', 'DNS names (CNAMEs followed) or literal IPv4/IPv6 addresses')
    .option('--reason <text>', 'why (stored with the maintenance hold)')
    .option('--lock-wait <duration>', LOCK_WAIT_HELP, durationArg(LOCK_WAIT_RULES))
    .option('--graceful <duration>', GRACEFUL_HELP, durationArg(GRACEFUL_RULES))
    .option('--dc <name>', DC_HELP)
    .option('--force', FORCE_HELP)
    .addHelpText(
      'after',
      '\nExamples:\n  vip-mgmt delete service.tld --reason "kernel upgrade"\n  vip-mgmt -d service.tld --dry-run\n  vip-mgmt -d service.tld --graceful 2m   drain: VIP-DRAIN for 2 minutes, then withdraw\n\n' +
        'A graceful drain shows a countdown on a terminal; Ctrl-C leaves the VIPs announced with VIP-DRAIN (exit 130):\n' +
        'vip-mgmt -d NAME withdraws them now, the next watchdog cycle after the deadline does, vip-mgmt -a NAME cancels.',
    )
    .action(async (names: string[], _o, cmd: Command) => run((g) => change(g, 'delete', names, cmd.optsWithGlobals() as ChangeFlags), cmd));

  program
    .command('status')
    .description('one row per VIP: names, configured, announced, route-map, live real servers, hold, watchdog state')
    .argument('[names...]', 'only the VIPs of these names')
    .option('--fleet', 'fleet mode: every VIP x DC x host from etcd (healthy/hosts per DC, holds, last seen, stale hosts); with NAMEs one line per host too')
    .addHelpText('after', '\nExamples:\n  vip-mgmt status\n  vip-mgmt status service.tld --json\n  vip-mgmt status --fleet\n  vip-mgmt status --fleet service.tld --json')
    .action(async (names: string[], o: { fleet?: boolean }, cmd: Command) =>
      run(async (g) => {
        if (o.fleet) {
          const { fleetStatusCommand } = await import('./status-fleet.js');
          return withDeps(g, (deps) => fleetStatusCommand(deps, names));
        }
        const { statusCommand } = await import('./status.js');
        return withDeps(g, (deps) => statusCommand(deps, names));
      }, cmd),
    );

  const config = program.command('config').description('configuration file commands');
  config.on('command:*', (operands: string[]) => unknownCommand(config, operands[0]!));
  config
    .command('check')
    .description('validate the config file and list every problem at once (exit 3 when invalid)')
    .option('--no-resolve', "skip resolving the services' names (the VIP-claimed-twice check needs DNS)")
    .addHelpText('after', '\nExamples:\n  vip-mgmt config check -c /etc/vip-mgmt/config.yaml\n  vip-mgmt config check --json --no-resolve')
    .action(async (o: { resolve: boolean }, cmd: Command) =>
      run(async (g) => {
        const { configCheckCommand } = await import('./config-check.js');
        return configCheckCommand(g, { resolve: o.resolve });
      }, cmd),
    );

  program
    .command('render')
    .description("print a DC's FRR configuration snippet (route-maps, prefix-lists, network statements); VIPs held on this host stay out of its own DC's snippet, as comment lines. With bgp.speaker bird: the include file of bgp.bird.include instead (static routes and filter vip_mgmt_export). ExaBGP and GoBGP need none: vip-mgmt gives them each route's AS path itself")
    .option('--dc <name>', "the datacenter to render for (default: this host's dc)")
    .option('--check', 'compare with the running config (BIRD: the routes BIRD runs); exit 10 when they differ')
    .option('--templates <dir>', 'directory holding frr.conf.mustache (default: the packaged templates)')
    .addHelpText('after', '\nExamples:\n  vip-mgmt render --dc par1 > /etc/frr/vip-mgmt.conf\n  vip-mgmt render > /etc/bird/vip-mgmt.conf   (bgp.speaker bird)\n  vip-mgmt render --check')
    .action(async (o: { dc?: string; check?: boolean; templates?: string }, cmd: Command) =>
      run(async (g) => {
        const { renderCommand } = await import('./render.js');
        // the root's --dc (fleet holds: -d NAME --dc DC) takes a --dc given after `render` too
        const dc = o.dc ?? (cmd.optsWithGlobals() as { dc?: string }).dc;
        return withDeps(g, (deps) => renderCommand(deps, { dc, check: Boolean(o.check), templates: o.templates }));
      }, cmd),
    );

  program
    .command('watchdog')
    .description('withdraw or restore VIPs from their live IPVS real servers or host health checks: one cycle, a daemon with --every/--schedule, or --now')
    .option('--every <duration>', 'keep running, one cycle every DURATION (with its unit: 500ms, 2s, 1m)', durationArg())
    .option('--schedule <cron>', "keep running on a cron schedule, seconds field allowed (e.g. '*/5 * * * * *')")
    .option('--now', "make the running daemon (pid file watchdog.pid in state_dir) run a cycle at once; with no daemon, run one cycle here")
    .addHelpText(
      'after',
      `
Examples:
  vip-mgmt watchdog                          one cycle, as cron runs it (silent unless something changes)
  vip-mgmt watchdog --dry-run                show what one cycle would do
  vip-mgmt watchdog --every 2s               daemon: SIGTERM finishes the cycle and exits, SIGHUP reloads the config
  vip-mgmt watchdog --schedule '*/5 * * * * *'
  vip-mgmt watchdog --now                    from keepalived's notify_up/notify_down: act on a change at once

A VIP is withdrawn after watchdog.fall unhealthy cycles in a row (default 2) and restored after
watchdog.rise healthy ones (default 2). An IPVS table with a malformed or cut line changes nothing
(exit 1); an empty one, or one that lost more than half of its virtual services, is not believed for
watchdog.settle cycles (default 2, exit 1 with a warning). Maintenance holds always win.

Services with live_from: checks or both are live from their host health checks (http, tcp, dns,
exec). One cycle runs every check once before taking the lock; the daemon runs each check on its
own interval (checks[].interval, default the period) and starts a cycle at once when one changes.

The daemon writes state_dir/watchdog.pid (removed when it exits cleanly); a second daemon on the same
state_dir exits 75. SIGUSR1 runs a cycle at once, under the same lock and rules as every cycle (one
more after a running one; the schedule goes on). --now sends it after checking that the pid is alive
and really a vip-mgmt watchdog (start time and command line), so a reused pid is never signalled;
with no daemon it runs one cycle itself. keepalived changes the IPVS table first, then runs the
notify script, so the cycle sees the change. Each --now is one cycle, one step of watchdog.fall/rise:
with the default fall 2 a notification withdraws only at the next periodic cycle; set fall 1 when
keepalived's own retry/delay_before_retry already confirm a failure. In keepalived.conf:
  real_server 203.0.113.1 80 {
      notify_up   "/usr/bin/vip-mgmt watchdog --now -q" root
      notify_down "/usr/bin/vip-mgmt watchdog --now -q" root
  }
  and, in a vrrp_instance, notify_master / notify_backup with the same command.

Fleet mode (fleet in the config): every cycle reads the fleet holds of this DC from etcd (before the
lock) and enforces them like local holds, and publishes this host afterwards; the daemon also
watches the holds and runs a cycle at once when one is set or cleared. With fleet.guard last_dc a
withdrawal for health that would leave a VIP announced by no healthy host in any DC is not made:
the route is kept (demoted with VIP-DRAIN when it exists), exit 5. etcd unreachable: the last known
fleet holds (cached in state) are enforced, said once per cycle, and no VIP is withdrawn for health
(demoted instead), exit 8.`,
    )
    .action(async (o: { every?: string; schedule?: string; now?: boolean }, cmd: Command) =>
      run(async (g) => {
        if (o.now) {
          const { watchdogNowCommand } = await import('./watchdog-now.js');
          return watchdogNowCommand(g, o);
        }
        const { watchdogCommand } = await import('./watchdog-cmd.js');
        return watchdogCommand(g, o);
      }, cmd),
    );

  program
    .command('doctor')
    .description('check this host: the speaker (vtysh and bgpd, birdc and bird with its include and export filter, exabgpcli and exabgp, or gobgp and gobgpd), its BGP sessions, router bgp / local AS, route-maps, VIPs on a local interface, DNS, IPVS, state_dir, schedule; in fleet mode etcd members, quorum, clock skew, this host\'s record, TLS expiry (exit 1 when something fails)')
    .addHelpText('after', '\nExamples:\n  vip-mgmt doctor                 one line per check, with the fix for each problem\n  vip-mgmt doctor --json | jq \'.checks[] | select(.verdict != "ok")\'')
    .action(async (_o, cmd: Command) =>
      run(async (g) => {
        const { doctorCommand } = await import('./doctor.js');
        return doctorCommand(g);
      }, cmd),
    );

  program
    .command('cron')
    .description('print a validated /etc/cron.d entry that runs the watchdog')
    .option('--schedule <cron>', 'five-field cron schedule', '* * * * *')
    .option('--user <name>', 'user the entry runs as', 'root')
    .addHelpText('after', '\nExamples:\n  vip-mgmt cron > /etc/cron.d/vip-mgmt\n  vip-mgmt cron --schedule "*/2 * * * *"')
    .action(async (o: { schedule: string; user: string }, cmd: Command) =>
      run(async (g) => {
        const { cronCommand } = await import('./cron.js');
        return cronCommand(g, o);
      }, cmd),
    );

  // --dc and --force are root options (for `-d NAME --dc DC`), so commander accepts them after any
  // command: where they mean nothing, say so instead of ignoring them
  program.hook('preAction', (_root, action) => {
    const o = action.optsWithGlobals() as { dc?: string; force?: boolean };
    const name = action.name();
    if (o.force && !['vip-mgmt', 'delete'].includes(name)) throw new VipError('VIP_E_USAGE', `--force is for -d / delete (past the fleet's last-DC guard), not for ${name}`);
    if (o.dc !== undefined && !['vip-mgmt', 'add', 'delete', 'render'].includes(name)) throw new VipError('VIP_E_USAGE', `--dc is for -a/-d (fleet holds) and render, not for ${name}`);
  });

  // The root has an action (for -a/-d), so commander would answer a mistyped command with "too many
  // arguments"; the action reports it instead. Set after the subcommands exist: they copy this setting
  // when created, and theirs must keep refusing extra arguments.
  program.allowExcessArguments(true);
  return program;
}

/** A usage error (exit 2) naming the unknown command, with commander's "Did you mean" suggestion
 *  when it has one, and the commands there are. */
function unknownCommand(cmd: Command, name: string): never {
  // commander's own unknownCommand() computes the suggestion; run it on a stand-in whose error()
  // only keeps the text, so that its single-quoted message is not printed
  let suggestion = '';
  const probe = Object.create(cmd) as Command & { unknownCommand(): void };
  probe.args = [name];
  probe.error = (message: string): never => {
    suggestion = /\n(\(Did you mean .*\?\))$/.exec(message)?.[1] ?? '';
    throw new Error('probe');
  };
  try {
    probe.unknownCommand();
  } catch {
    /* the probe always throws */
  }
  const commands = cmd.commands.map((c) => c.name()).filter((n) => n !== 'help');
  const where = cmd.parent ? `${cmd.name()} ` : '';
  const lines = [`error: unknown command "${where}${printable(name)}"`];
  if (suggestion) lines.push(suggestion);
  lines.push(`${cmd.parent ? `${cmd.name()} commands` : 'commands'}: ${commands.join(', ')}`);
  return cmd.error(lines.join('\n'), { exitCode: EXIT.USAGE, code: 'commander.unknownCommand' });
}

function usageError(e: CommanderError): VipError {
  return new VipError('VIP_E_USAGE', e.message.replace(/^error: /, ''));
}

/** Entry point: parse argv, run one command, map every failure to its exit code. */
export async function main(argv: string[] = process.argv): Promise<void> {
  // `vip-mgmt status | head`: a reader that stops early is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  let json = argv.includes('--json');
  const run = async (h: Handler, cmd: Command): Promise<void> => {
    const g = globals(cmd);
    json = g.json;
    try {
      process.exitCode = await h(g);
    } finally {
      // the fleet's gRPC channels would keep the process alive
      const { runCleanups } = await import('./cleanup.js');
      await runCleanups();
    }
  };
  const program = buildProgram(run);
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    let err: VipError;
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        process.exitCode = EXIT.OK;
        return;
      }
      if (e.exitCode === 0) return;
      err = usageError(e);
      process.exitCode = err.exit;
      if (json) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
      return; // commander already printed the message
    }
    err = isVipError(e) ? e : new VipError('VIP_E_FAILED', `internal error: ${(e as Error)?.stack ?? String(e)}`);
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
    process.stderr.write(`error: ${escapeLines(err.message)} [${err.code}]\n`);
    process.exitCode = err.exit;
  }
}
