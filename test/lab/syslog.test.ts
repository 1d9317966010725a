// log.syslog on a real syslog daemon: rsyslogd listens on a socket of the test's own, which a private
// mount namespace shows as /dev/log (the path every syslog client, `logger` included, writes to).
// Messages must arrive with the configured tag and the right severity; JSON logs go to stderr; -q
// (what cron and the units run) quiets stderr only; a hostile name from DNS arrives escaped, on one line.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBgpLab, FRR_LAB_COMMANDS, type BgpLab } from './frr.ts';
import { describeRun, labConfig, runCli, writeConfig } from './cli.ts';
import { missing, requireLab } from './prereq.ts';
import dnsPacket from 'dns-packet';
import { formatProcIpVs } from '../../bench/gen-ipvs.ts';

const NEEDS = [...FRR_LAB_COMMANDS, 'rsyslogd', 'logger', 'unshare', 'mount'];
const VIP = '192.0.2.90';
const WD_VIP = '192.0.2.91'; // the watchdog's: VIP ends the first test under a hold
const TAG = 'vip-lab-syslog';
// What a hostile DNS server can put in a CNAME target: a newline with a forged syslog priority and
// line, and an ANSI colour escape.
const EVIL_TARGET = 'x\n<0>forged line\x1b[31m.syslog.test';

/** A DNS server on 127.0.0.1 that answers from RECORDS (CNAMEs and the asked type) and NXDOMAIN for
 *  any other name: dnsmasq will not serve names with control characters. */
function startDns(records: Record<string, dnsPacket.Answer[]>): Promise<{ port: number; stop(): Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, from) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const q = query.questions?.[0];
    if (!q) return;
    const own = records[q.name.toLowerCase()];
    const answers = (own ?? []).filter((a) => a.type === 'CNAME' || a.type === q.type);
    const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (own ? 0 : 3);
    sock.send(dnsPacket.encode({ type: 'response', id: query.id, flags, questions: [q], answers }), from.port, from.address);
  });
  return new Promise((resolve) =>
    sock.bind(0, '127.0.0.1', () => resolve({ port: sock.address().port, stop: () => new Promise<void>((r) => sock.close(() => r())) })),
  );
}

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
  let cfgWatchdog: string;
  let table: string;
  let dns: Awaited<ReturnType<typeof startDns>> | null = null;

  /** The watchdog's IPVS table (a /proc/net/ip_vs-format file): WD_VIP:80 with these real server weights. */
  const setTable = async (weights: number[]) => {
    const reals = weights.map((w, i) => ({ address: `203.0.113.${i + 1}`, port: 80, forward: 'route', weight: w, active: 0, inactive: 0 }));
    const svc = { kind: 'tcp', vip: WD_VIP, port: 80, fwmark: null, scheduler: 'rr', persistent: null, flags: [], reals };
    await writeFile(`${table}.tmp`, formatProcIpVs({ services: [svc], warnings: [], malformed: [] }));
    await rename(`${table}.tmp`, table);
  };

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
    lab = await createBgpLab({ lbs: [{ name: 'par1', asn: 64512, vips: [VIP, WD_VIP] }], router: { asn: 65000 } });
    dns = await startDns({
      'svc.syslog.test': [{ type: 'A', name: 'svc.syslog.test', ttl: 60, class: 'IN', data: WD_VIP }],
      'evil.syslog.test': [{ type: 'CNAME', name: 'evil.syslog.test', ttl: 60, class: 'IN', data: EVIL_TARGET }],
    });
    table = join(dir, 'ip_vs');
    await setTable([1, 1]);
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
    cfgWatchdog = await writeConfig(
      dir,
      {
        ...base,
        dns: { servers: [`127.0.0.1:${dns.port}`], timeout: '500ms', attempts: 1 },
        services: [
          { name: 'svc.syslog.test', prefer: ['par1'], min_realservers: 1, restore_realservers: 1 },
        ],
        watchdog: { rise: 1, fall: 1, ipvs: { source: 'proc', path: table } },
      },
      'watchdog.yaml',
    );
  });
  after(async () => {
    rsyslog?.kill('SIGTERM');
    await dns?.stop();
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

  test('watchdog -q (as cron and the units run it): the info change lines reach syslog, stderr stays quiet', async (t: TestContext) => {
    if (!requireLab(t, NEEDS, { root: true })) return;
    const P = `${WD_VIP}/32`;
    const cycle = async () => {
      const r = await runCli(['-c', cfgWatchdog, 'watchdog', '-q'], { prefix: withDevLog() });
      assert.equal(r.code, 0, describeRun(r));
      assert.doesNotMatch(r.stderr, /realservers available/, '-q keeps info lines off stderr');
      return r;
    };
    // healthy: the watchdog announces the service's VIP
    await setTable([1, 1]);
    await cycle();
    await lab.waitRoute(P, (x) => x?.best != null);
    // every real server at weight 0: withdrawn, and said so in the original tool's words
    await setTable([0, 0]);
    await cycle();
    await lab.waitRoute(P, (x) => x === null || x.best == null);
    const text = await waitFor(/realservers available behind 192\.0\.2\.91 > delete route/);
    const line = (what: string) => new RegExp(`^daemon\\.info ${TAG}(\\[\\d+\\])?: ${what}$`, 'm');
    assert.match(text, line('2 realservers available behind 192\\.0\\.2\\.91 > add route'), text);
    assert.match(text, line('0 realservers available behind 192\\.0\\.2\\.91 > delete route'), text);
  });

  test('a CNAME target with a newline, a forged priority and an ANSI escape reaches syslog escaped, on one line', async (t: TestContext) => {
    if (!requireLab(t, NEEDS, { root: true })) return;
    const r = await runCli(['-c', cfgWatchdog, '-a', 'evil.syslog.test', '-q'], { prefix: withDevLog() });
    assert.equal(r.code, 4, describeRun(r)); // the name does not resolve
    // stderr (errors pass -q) is escaped too
    assert.doesNotMatch(r.stderr, /\x1b|\n<0>/, JSON.stringify(r.stderr));
    assert.match(r.stderr, /x\\x0a<0>forged line\\x1b\[31m\.syslog\.test/, r.stderr);
    const text = await waitFor(/forged/);
    const lines = text.split('\n').filter((l) => /forged/.test(l));
    assert.equal(lines.length, 1, text);
    assert.match(lines[0]!, new RegExp(`^daemon\\.err ${TAG}(\\[\\d+\\])?: .*evil\\.syslog\\.test.*x\\\\x0a<0>forged line\\\\x1b\\[31m\\.syslog\\.test`), text);
    // nothing raw reached rsyslog either (it would show a control character as #012 or #033)
    assert.doesNotMatch(lines[0]!, /#0(12|33)|\x1b/, lines[0]);
    assert.doesNotMatch(text, /^[^\n]*: ?<0>forged/m, 'no forged line of its own');
  });
});
