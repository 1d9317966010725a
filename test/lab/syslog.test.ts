// log.syslog on a real syslog daemon: rsyslogd listens on a socket of the test's own, which a private
// mount namespace shows as /dev/log (the path every syslog client, `logger` included, writes to).
// Messages must arrive with the configured tag and the right severity; JSON logs go to stderr.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { describeRun, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'rsyslogd', 'logger', 'unshare', 'mount'];
const VIP = '192.0.2.90';
const TAG = 'vip-lab-syslog';

// Runs "$@" with a fresh /dev whose log node is our rsyslogd's socket ($1 = that socket).
const WITH_DEV_LOG = String.raw`set -e
sock=$1; shift
old=$(mktemp -d)
mount --make-rprivate /
mount --rbind /dev "$old"
mount -t tmpfs -o mode=755 vip-dev /dev
for n in null zero random urandom; do touch /dev/$n; mount --bind "$old/$n" /dev/$n; done
ln -s /proc/self/fd /dev/fd
touch /dev/log; mount --bind "$sock" /dev/log
exec "$@"`;

describe('syslog on a real rsyslogd', { concurrency: false }, () => {
  let lab: BgpLab;
  let dir: string;
  let rsyslog: ChildProcess | null = null;
  let cfg: string;
  let cfgUnreadable: string;

  before(async () => {
    if (missing(NEEDS, { root: true }).length > 0) return;
    dir = await mkdtemp(join(tmpdir(), 'vip-syslog-'));
    await writeFile(
      join(dir, 'rsyslog.conf'),
      `global(workDirectory="${dir}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${dir}/log" CreatePath="on")
template(name="lab" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")
*.* action(type="omfile" file="${dir}/messages" template="lab")
`,
    );
    rsyslog = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslog.pid')], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(join(dir, 'log')); i++) await sleep(50);
    lab = await createBgpLab({ lbs: [{ name: 'par1', asn: 64512, vips: [VIP] }], router: { asn: 65000 } });
    const base = labConfig({
      dc: 'par1',
      pathspace: lab.lbs.par1!.pathspace,
      dnsPort: 9, // nothing listens: only literal addresses are used here
      stateDir: join(dir, 'state'),
      datacenters: { par1: 64512 },
      extra: { log: { syslog: true, tag: TAG, level: 'info' } },
    });
    cfg = await writeConfig(dir, base);
    cfgUnreadable = await writeConfig(dir, { ...base, watchdog: { ipvs: { source: 'proc', path: join(dir, 'no-ip_vs') }, discover: true } }, 'unreadable.yaml');
  });
  after(async () => {
    rsyslog?.kill('SIGTERM');
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const withDevLog = () => ['unshare', '-m', 'sh', '-c', WITH_DEV_LOG, 'sh', join(dir, 'log')];
  /** rsyslog writes asynchronously: wait for a line matching RE. */
  const waitFor = async (re: RegExp): Promise<string> => {
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = await readFile(join(dir, 'messages'), 'utf8').catch(() => '');
      if (re.test(text)) return text;
      await sleep(50);
    }
    return text;
  };

  test('-a and -d: info messages with the configured tag, in the original wording', async (t: TestContext) => {
    if (!requireLab(t, NEEDS, { root: true })) return;
    const add = await runCli(['-c', cfg, '-a', VIP], { prefix: withDevLog() });
    assert.equal(add.code, 0, describeRun(add));
    const del = await runCli(['-c', cfg, '-d', VIP, '--reason', 'syslog test'], { prefix: withDevLog() });
    assert.equal(del.code, 0, describeRun(del));
    const text = await waitFor(/Deleting route to 192\.0\.2\.90\/32/);
    assert.match(text, new RegExp(`^daemon\\.info ${TAG}(\\[\\d+\\])?: Adding route to 192\\.0\\.2\\.90/32$`, 'm'), text);
    assert.match(text, new RegExp(`^daemon\\.info ${TAG}(\\[\\d+\\])?: Deleting route to 192\\.0\\.2\\.90/32$`, 'm'), text);
    assert.equal(existsSync('/dev/log'), false, 'the host /dev was not touched');
  });

  test('an unreadable IPVS table reaches syslog as an error; JSON logs on stderr carry the fields', async (t: TestContext) => {
    if (!requireLab(t, NEEDS, { root: true })) return;
    const r = await runCli(['-c', cfgUnreadable, 'watchdog'], { prefix: withDevLog(), env: { VIP_MGMT_LOG_FORMAT: 'json' } });
    assert.equal(r.code, 1, describeRun(r));
    const text = await waitFor(/fail static/);
    assert.match(text, new RegExp(`^daemon\\.err ${TAG}(\\[\\d+\\])?: .*changing nothing \\(fail static\\)$`, 'm'), text);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; code?: string });
    const fail = lines.find((l) => /fail static/.test(l.msg));
    assert.ok(fail, r.stderr);
    assert.equal(fail.level, 50);
    assert.equal(fail.code, 'VIP_E_IPVS_UNREADABLE');
  });
});
