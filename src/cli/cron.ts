// `cron`: print a validated /etc/cron.d entry for the watchdog (config valid, schedule valid, binary found).
import { accessSync, constants, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import Mustache from 'mustache';
import { VipError } from '../core/errors.js';
import { loadConfig } from '../config/file.js';
import type { GlobalOptions } from './context.js';
import { makeOutput } from './deps.js';
import { CRON_TEMPLATE, readTemplate } from './templates.js';

export async function cronCommand(g: GlobalOptions, o: { schedule: string; user: string }): Promise<number> {
  const config = await loadConfig(g.config); // an entry for a broken config would fail every minute
  const fields = o.schedule.trim().split(/\s+/);
  if (fields.length !== 5) throw new VipError('VIP_E_USAGE', `--schedule needs the five cron fields, got "${o.schedule}"`);
  const { CronExpressionParser } = await import('../adapters/cronexpr.js');
  try {
    CronExpressionParser.parse(o.schedule);
  } catch (e) {
    throw new VipError('VIP_E_USAGE', `--schedule: invalid cron expression "${o.schedule}": ${(e as Error).message}`);
  }
  if (!/^[a-z_][a-z0-9_-]*$/i.test(o.user)) throw new VipError('VIP_E_USAGE', `--user: invalid user name "${o.user}"`);
  // the path this command was started by (/usr/bin/vip-mgmt, $(npm prefix -g)/bin/vip-mgmt), not the
  // file behind its symlink: that one moves with upgrades (/usr/share/vip-mgmt/, node_modules/)
  const bin = resolve(process.argv[1] ?? 'vip-mgmt');
  const command = [...runner(bin), 'watchdog', '-q', '-c', realpathSync(g.config)].map(shellWord).join(' ');
  const text = Mustache.render(await readTemplate(CRON_TEMPLATE), {
    schedule: fields.join(' '),
    user: o.user,
    command,
    tag: config.log.tag,
  }, {}, { escape: (v: unknown) => String(v) }); // a crontab is not HTML: paths keep their slashes
  const out = makeOutput();
  if (g.json) out.json({ schedule: fields.join(' '), user: o.user, command, entry: text });
  else out.data(text);
  return 0;
}

/** How cron starts BIN: itself, or through this node when it is not executable (a single file
 *  copied without its mode and started as `node vip-mgmt.mjs`). */
function runner(bin: string): string[] {
  try {
    accessSync(bin, constants.X_OK);
    return [bin];
  } catch {
    return [process.execPath, bin];
  }
}

/** cron hands the line to /bin/sh: quote anything beyond plain path characters. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}
