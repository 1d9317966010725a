// Adapter tests: the resolver against a real dnsmasq, and against a tiny fake server for the spoofed and truncated answers dnsmasq cannot give.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { createResolver, resolverFromConfig, NAMES_IN_FLIGHT } from '../../src/adapters/dns.ts';
import { literalName } from '../../src/core/dnsresult.ts';
import { VipError, type ErrorCode } from '../../src/core/errors.ts';
import { requireLab } from '../lab/prereq.ts';
import { freePort, startDnsmasq, startServfailDns, type LabDns } from '../lab/dnsmasq.ts';
import { rejectsWith as rejects } from '../rejects.ts';

const fast = (port: number, extra: { host: string; port: number }[] = []) =>
  createResolver({ servers: [...extra, { host: '127.0.0.1', port }], timeoutMs: 300, attempts: 2 });

/** every resolution failure is exit 4 */
const rejectsWith = (p: Promise<unknown>, code: ErrorCode, message?: RegExp) => rejects(p, code, message, 4);

test('literal addresses resolve to themselves without asking anyone', async () => {
  // no server at all: any query would fail with VIP_E_DNS_NO_SERVER
  const r = createResolver({ servers: [], timeoutMs: 100, attempts: 1 });
  assert.deepEqual(await r.resolve('192.0.2.77'), { name: '192.0.2.77', chain: [], addresses: ['192.0.2.77'], ttl: 0 });
  assert.deepEqual(await r.resolve('2001:DB8:0::0:1'), { name: '2001:db8:0::0:1', chain: [], addresses: ['2001:db8::1'], ttl: 0 });
  await rejectsWith(r.resolve('svc.lab.test'), 'VIP_E_DNS_NO_SERVER', /svc\.lab\.test.*set dns\.servers/);
  await assert.rejects(r.resolve('a..b'), (e: unknown) => e instanceof VipError && e.code === 'VIP_E_USAGE');
});

test('a NAME written as an address that cannot be a VIP is VIP_E_BAD_ADDRESS (exit 2), asking no one', async () => {
  // no server at all: a query would fail with VIP_E_DNS_NO_SERVER instead
  const r = createResolver({ servers: [], timeoutMs: 100, attempts: 1 });
  const table: [string, RegExp][] = [
    ['2001:db8::21%lo', /2001:db8::21%lo carries an IPv6 zone id \("%lo"\).*\(nothing was changed\)/],
    ['fe80::1%eth0', /zone id/],
    ['::ffff:192.0.2.7', /::ffff:192\.0\.2\.7 is an IPv4-mapped IPv6 address: it is not the IPv4 address 192\.0\.2\.7/],
    ['224.0.0.5', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['127.0.0.1', /loopback/],
    ['::1', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['169.254.0.1', /link-local/],
    ['fe80::1', /link-local/],
  ];
  for (const [name, want] of table) {
    await assert.rejects(r.resolve(name), (e: unknown) => {
      assert.ok(e instanceof VipError, `${name}: ${String(e)}`);
      assert.equal(e.code, 'VIP_E_BAD_ADDRESS', `${name}: ${e.message}`);
      assert.equal(e.exit, 2);
      assert.match(e.message, want, name);
      return true;
    });
  }
  // the documentation ranges stay usable VIPs
  for (const a of ['192.0.2.1', '198.51.100.1', '203.0.113.1', '2001:db8::21']) assert.deepEqual((await r.resolve(a)).addresses, [a]);
});

test('literalName: addresses resolve to themselves, bad ones are errors, names are left to DNS', () => {
  assert.deepEqual(literalName(' 192.0.2.7 '), { name: '192.0.2.7', chain: [], addresses: ['192.0.2.7'], ttl: 0 });
  assert.equal(literalName('service.tld'), null);
  assert.equal(literalName('192.0.2'), null, 'not written as an address: a (bad) DNS name');
  const bad = literalName('2001:db8::21%lo');
  assert.ok(bad instanceof VipError && bad.code === 'VIP_E_BAD_ADDRESS');
  const esc = literalName('2001:db8::21%lo\x1b[2J');
  assert.ok(esc instanceof VipError);
  assert.doesNotMatch(esc.message, /\x1b/, 'control characters of the NAME are escaped');
});

test('resolverFromConfig: an empty resolv.conf is VIP_E_DNS_NO_SERVER naming the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vip-dns-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const rc = join(dir, 'resolv.conf');
  await writeFile(rc, '# nothing here\nsearch lab.test\n');
  const r = resolverFromConfig({ servers: [], timeout: 200, attempts: 1 }, { resolvConf: rc });
  await rejectsWith(r.resolve('svc.lab.test'), 'VIP_E_DNS_NO_SERVER', new RegExp(`${rc.replace(/[.]/g, '\\.')} lists no usable nameserver`));
  const gone = resolverFromConfig({ servers: [], timeout: 200, attempts: 1 }, { resolvConf: join(dir, 'missing') });
  await rejectsWith(gone.resolve('svc.lab.test'), 'VIP_E_DNS_NO_SERVER');
});

test('against a real dnsmasq', async (t) => {
  if (!requireLab(t, ['dnsmasq'])) return;
  const dns = await startDnsmasq({
    ttl: 60,
    records: {
      cname: [
        ['a.lab.test', 'b.lab.test'],
        ['b.lab.test', 'c.lab.test'],
        ['dangling.lab.test', 'missing.lab.test'],
        ...Array.from({ length: 9 }, (_, i): [string, string] => [`deep${i}.lab.test`, `deep${i + 1}.lab.test`]),
        ...Array.from({ length: 8 }, (_, i): [string, string] => [`hop${i}.lab.test`, `hop${i + 1}.lab.test`]),
      ],
      hosts: [
        ['c.lab.test', '192.0.2.20', '192.0.2.3', '2001:db8::20', '2001:db8::3'],
        ['v4.lab.test', '198.51.100.4'],
        ['v6.lab.test', '2001:db8:6::6'],
        ['deep9.lab.test', '203.0.113.9'],
        ['hop8.lab.test', '203.0.113.8'],
      ],
    },
  });
  t.after(() => dns.stop());
  const r = fast(dns.port);
  const server = `127.0.0.1:${dns.port}`;

  await t.test('a CNAME chain a -> b -> c gives every A and AAAA of c, v4 first, never the CNAME targets', async () => {
    assert.deepEqual(await r.resolve('A.Lab.Test.'), {
      name: 'a.lab.test',
      chain: ['b.lab.test', 'c.lab.test'],
      addresses: ['192.0.2.3', '192.0.2.20', '2001:db8::3', '2001:db8::20'],
      ttl: 60,
    });
  });

  await t.test('v4-only and v6-only names (NODATA in the other family is fine)', async () => {
    assert.deepEqual(await r.resolve('v4.lab.test'), { name: 'v4.lab.test', chain: [], addresses: ['198.51.100.4'], ttl: 60 });
    assert.deepEqual(await r.resolve('v6.lab.test'), { name: 'v6.lab.test', chain: [], addresses: ['2001:db8:6::6'], ttl: 60 });
  });

  await t.test('NXDOMAIN: exit 4, VIP_E_DNS_NXDOMAIN, naming the name and the server', async () => {
    await rejectsWith(r.resolve('nope.lab.test'), 'VIP_E_DNS_NXDOMAIN', new RegExp(`nope\\.lab\\.test does not exist \\(NXDOMAIN from ${server}\\)`));
  });

  await t.test('a CNAME whose target the answer leaves out is asked for; a missing target is NXDOMAIN', async () => {
    // dnsmasq answers dangling.lab.test with the CNAME only (it has nothing for the target).
    const e = await rejectsWith(r.resolve('dangling.lab.test'), 'VIP_E_DNS_NXDOMAIN', /alias of missing\.lab\.test, which does not exist/);
    assert.deepEqual(e.details.chain, ['missing.lab.test']);
    assert.match(dns.log(), /query\[A\] missing\.lab\.test/, 'the target was asked for');
  });

  await t.test('a chain of 9 hops stops at the depth limit; 8 hops resolve', async () => {
    await rejectsWith(r.resolve('deep0.lab.test'), 'VIP_E_DNS_CNAME_DEPTH', /longer than 8 hops/);
    const ok = await r.resolve('hop0.lab.test');
    assert.deepEqual(ok.addresses, ['203.0.113.8']);
    assert.equal(ok.chain.length, 8);
  });

  await t.test('a name outside the served domains is REFUSED (dnsmasq has no upstream)', async () => {
    await rejectsWith(r.resolve('svc.example'), 'VIP_E_DNS_REFUSED', new RegExp(`${server} refused to resolve svc\\.example`));
  });

  await t.test('a silent first server is skipped for the next one', async () => {
    const closed = await freePort();
    const two = fast(dns.port, [{ host: '127.0.0.1', port: closed }]);
    assert.deepEqual((await two.resolve('v4.lab.test')).addresses, ['198.51.100.4']);
  });
});

test('SERVFAIL from a real server (validating dnsmasq in front of an unsigned zone)', async (t) => {
  if (!requireLab(t, ['dnsmasq'])) return;
  const sf = await startServfailDns();
  t.after(() => sf.stop());
  await rejectsWith(fast(sf.port).resolve('svc.servfail.test'), 'VIP_E_DNS_SERVFAIL', new RegExp(`svc\\.servfail\\.test.*SERVFAIL.*127\\.0\\.0\\.1:${sf.port}`));
});

test('timeout when the server is stopped, and answers again after a restart', async (t) => {
  if (!requireLab(t, ['dnsmasq'])) return;
  const dns: LabDns = await startDnsmasq({ records: { hosts: [['svc.lab.test', '192.0.2.5']] } });
  t.after(() => dns.stop());
  const r = fast(dns.port);
  assert.deepEqual((await r.resolve('svc.lab.test')).addresses, ['192.0.2.5']);
  await dns.stop();
  await rejectsWith(
    r.resolve('svc.lab.test'),
    'VIP_E_DNS_TIMEOUT',
    new RegExp(`timeout resolving svc\\.lab\\.test .*after 2 attempts of 300ms to 127\\.0\\.0\\.1:${dns.port}.*is the DNS server up\\? see dns\\.servers`),
  );
  await dns.restart();
  assert.deepEqual((await r.resolve('svc.lab.test')).addresses, ['192.0.2.5']);
});

// ---- a fake server for failures no real server here produces ---------------------------------

type Send = { buf: Buffer; fromOtherPort?: boolean };
type Handler = (q: dnsPacket.DecodedPacket, proto: 'udp' | 'tcp') => Send[];

interface Fake {
  port: number;
  seen: { proto: 'udp' | 'tcp'; name: string; type: string }[];
}

/** UDP and TCP on one 127.0.0.1 port, answering each query with what HANDLER returns. */
async function startFake(t: TestContext, handler: Handler): Promise<Fake> {
  const udp = dgram.createSocket('udp4');
  const other = dgram.createSocket('udp4'); // a second socket: answers from the wrong source port
  const tcp = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('error', () => {});
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        fake.seen.push({ proto: 'tcp', name: q.questions![0]!.name, type: q.questions![0]!.type });
        for (const s of handler(q, 'tcp')) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(s.buf.length);
          c.write(Buffer.concat([len, s.buf]));
        }
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', () => resolve()));
  const fake: Fake = { port, seen: [] };
  udp.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    fake.seen.push({ proto: 'udp', name: q.questions![0]!.name, type: q.questions![0]!.type });
    for (const s of handler(q, 'udp')) (s.fromOtherPort ? other : udp).send(s.buf, rinfo.port, rinfo.address);
  });
  t.after(async () => {
    udp.close();
    other.close();
    await new Promise((resolve) => tcp.close(resolve));
  });
  return fake;
}

const answer = (q: dnsPacket.DecodedPacket, answers: dnsPacket.Answer[], o: { id?: number; name?: string; tc?: boolean; rcode?: number } = {}): Buffer => {
  const qq = q.questions![0]!;
  return dnsPacket.encode({
    type: 'response',
    id: o.id ?? q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (o.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) | (o.rcode ?? 0),
    questions: [{ name: o.name ?? qq.name, type: qq.type, class: 'IN' }],
    answers,
  });
};
const rr = (name: string, type: 'A' | 'AAAA' | 'CNAME', data: string, ttl = 60): dnsPacket.Answer => ({ name, type, data, ttl, class: 'IN' });

test('spoofed answers (wrong id, wrong question, wrong source port, garbage) are ignored for the real one', async (t) => {
  const fake = await startFake(t, (q) => {
    const name = q.questions![0]!.name;
    if (q.questions![0]!.type === 'AAAA') return [{ buf: answer(q, []) }];
    const evil = [rr(name, 'A', '203.0.113.66')];
    return [
      { buf: answer(q, evil), fromOtherPort: true },
      { buf: answer(q, evil, { id: (q.id! + 1) & 0xffff }) },
      { buf: answer(q, [rr('evil.lab.test', 'A', '203.0.113.66')], { name: 'evil.lab.test' }) },
      { buf: Buffer.from('not a dns packet at all') },
      { buf: answer(q, [rr(name, 'A', '192.0.2.10')]) },
    ];
  });
  assert.deepEqual(await fast(fake.port).resolve('svc.lab.test'), { name: 'svc.lab.test', chain: [], addresses: ['192.0.2.10'], ttl: 60 });
});

test('a truncated UDP answer is asked again over TCP', async (t) => {
  const fake = await startFake(t, (q, proto) => {
    const name = q.questions![0]!.name;
    const type = q.questions![0]!.type;
    if (proto === 'udp') return [{ buf: answer(q, type === 'A' ? [rr(name, 'A', '203.0.113.1')] : [], { tc: true }) }];
    if (type === 'AAAA') return [{ buf: answer(q, [rr(name, 'AAAA', '2001:db8::7')]) }];
    return [{ buf: answer(q, [], { id: (q.id! + 1) & 0xffff }) }, { buf: answer(q, Array.from({ length: 40 }, (_, i) => rr(name, 'A', `192.0.2.${i + 1}`))) }];
  });
  const r = await fast(fake.port).resolve('big.lab.test');
  assert.equal(r.addresses.length, 41);
  assert.ok(!r.addresses.includes('203.0.113.1'), 'nothing of the truncated UDP answer is kept');
  assert.deepEqual(r.addresses.slice(0, 2), ['192.0.2.1', '192.0.2.2']);
  assert.equal(r.addresses.at(-1), '2001:db8::7');
  assert.deepEqual(
    fake.seen.filter((s) => s.proto === 'tcp').map((s) => s.type).sort(),
    ['A', 'AAAA'],
  );
});

test('a chain split over several answers is followed, with the smallest TTL on the way', async (t) => {
  const fake = await startFake(t, (q) => {
    const { name, type } = q.questions![0]!;
    if (name === 'a.lab.test') return [{ buf: answer(q, [rr('a.lab.test', 'CNAME', 'b.lab.test', 300)]) }];
    if (name === 'b.lab.test' && type === 'A') return [{ buf: answer(q, [rr('b.lab.test', 'A', '192.0.2.44', 90)]) }];
    if (name === 'b.lab.test') return [{ buf: answer(q, [rr('b.lab.test', 'AAAA', '2001:db8::44', 45)]) }];
    return [{ buf: answer(q, [], { rcode: 3 }) }];
  });
  assert.deepEqual(await fast(fake.port).resolve('a.lab.test'), {
    name: 'a.lab.test',
    chain: ['b.lab.test'],
    addresses: ['192.0.2.44', '2001:db8::44'],
    ttl: 45,
  });
  assert.deepEqual(
    fake.seen.map((s) => `${s.name}/${s.type}`).sort(),
    ['a.lab.test/A', 'a.lab.test/AAAA', 'b.lab.test/A', 'b.lab.test/AAAA'],
  );
});

test('a CNAME loop (which dnsmasq refuses to load) is VIP_E_DNS_CNAME_LOOP', async (t) => {
  const fake = await startFake(t, (q) => {
    const { name } = q.questions![0]!;
    return [{ buf: answer(q, [rr(name, 'CNAME', name === 'x.lab.test' ? 'y.lab.test' : 'x.lab.test')]) }];
  });
  await rejectsWith(fast(fake.port).resolve('x.lab.test'), 'VIP_E_DNS_CNAME_LOOP', /x\.lab\.test -> y\.lab\.test -> x\.lab\.test/);
});

test('NXDOMAIN for AAAA beside A records is not an error; FORMERR is a bad answer', async (t) => {
  const fake = await startFake(t, (q) => {
    const { name, type } = q.questions![0]!;
    if (name === 'formerr.lab.test') return [{ buf: answer(q, [], { rcode: 1 }) }];
    return [{ buf: type === 'A' ? answer(q, [rr(name, 'A', '192.0.2.61')]) : answer(q, [], { rcode: 3 }) }];
  });
  const r = fast(fake.port);
  assert.deepEqual((await r.resolve('half.lab.test')).addresses, ['192.0.2.61']);
  await rejectsWith(r.resolve('formerr.lab.test'), 'VIP_E_DNS_BAD_ANSWER', /FORMERR/);
});

test('an answer carrying an address no VIP can have (IPv4-mapped AAAA, multicast A, loopback) is VIP_E_DNS_BAD_ANSWER naming the name and the address', async (t) => {
  const fake = await startFake(t, (q) => {
    const { name, type } = q.questions![0]!;
    const records: Record<string, Partial<Record<'A' | 'AAAA', string[]>>> = {
      'mapped.lab.test': { A: ['192.0.2.7'], AAAA: ['::ffff:192.0.2.7'] },
      'multicast.lab.test': { A: ['192.0.2.8', '224.0.0.251'] },
      'loop.lab.test': { AAAA: ['::1'] },
      'alias.lab.test': {},
      'fine.lab.test': { A: ['203.0.113.9'], AAAA: ['2001:db8::9'] },
    };
    if (name === 'alias.lab.test') return [{ buf: answer(q, [rr(name, 'CNAME', 'multicast.lab.test'), rr('multicast.lab.test', 'A', '224.0.0.251')]) }];
    const addrs = records[name]?.[type as 'A' | 'AAAA'] ?? [];
    return [{ buf: answer(q, addrs.map((a) => rr(name, type as 'A' | 'AAAA', a))) }];
  });
  const r = fast(fake.port);
  const server = `127.0.0.1:${fake.port}`;
  const e1 = await rejectsWith(
    r.resolve('mapped.lab.test'),
    'VIP_E_DNS_BAD_ANSWER',
    new RegExp(`unusable DNS answer for mapped\\.lab\\.test from ${server}: its AAAA record ::ffff:c000:207 is an IPv4-mapped IPv6 address: it is not the IPv4 address 192\\.0\\.2\\.7`),
  );
  assert.equal(e1.details.address, '::ffff:c000:207');
  await rejectsWith(r.resolve('multicast.lab.test'), 'VIP_E_DNS_BAD_ANSWER', /multicast\.lab\.test .*its A record 224\.0\.0\.251 is a multicast address/);
  await rejectsWith(r.resolve('loop.lab.test'), 'VIP_E_DNS_BAD_ANSWER', /loop\.lab\.test .*AAAA record ::1 is a loopback address/);
  await rejectsWith(r.resolve('alias.lab.test'), 'VIP_E_DNS_BAD_ANSWER', /alias\.lab\.test \(via alias\.lab\.test -> multicast\.lab\.test\).*224\.0\.0\.251/);
  assert.deepEqual((await r.resolve('fine.lab.test')).addresses, ['203.0.113.9', '2001:db8::9']);
});

test(`one resolver asks for at most ${NAMES_IN_FLIGHT} names at a time, however many it is given`, async (t) => {
  // a server that answers each question 20 ms later, counting the questions waiting at once
  const udp = dgram.createSocket('udp4');
  const port = await freePort();
  await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', () => resolve()));
  t.after(() => udp.close());
  let waiting = 0;
  let most = 0;
  udp.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    waiting++;
    most = Math.max(most, waiting);
    setTimeout(() => {
      waiting--;
      const name = q.questions![0]!.name;
      udp.send(answer(q, q.questions![0]!.type === 'A' ? [rr(name, 'A', '192.0.2.10')] : []), rinfo.port, rinfo.address);
    }, 20);
  });
  const resolver = createResolver({ servers: [{ host: '127.0.0.1', port }], timeoutMs: 2000, attempts: 1 });
  const names = Array.from({ length: 200 }, (_, i) => `s${i}.lab.test`);
  const got = await Promise.all(names.map((n) => resolver.resolve(n)));
  assert.equal(got.length, 200);
  assert.ok(got.every((r) => r.addresses[0] === '192.0.2.10'));
  // A and AAAA of each name in flight together
  assert.ok(most <= 2 * NAMES_IN_FLIGHT, `at most ${2 * NAMES_IN_FLIGHT} questions waited at once, saw ${most}`);
  assert.ok(most > NAMES_IN_FLIGHT, `the limit is per name, not per question (saw ${most})`);
});
