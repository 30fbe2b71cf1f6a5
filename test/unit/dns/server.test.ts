import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Answer, Question } from '../../../src/dns/message.ts';
import type { DnsServer, RecursionResult, Recursor } from '../../../src/dns/server.ts';
import { junkBytes, lcg32 } from '../../harness/prng.ts';
import { type DnsFixtureOptions, makeDnsServer } from './fixture.ts';

/** @types/dns-packet leaves out the rcode and flag fields that dns-packet's decode does return. */
type Decoded = dnsPacket.DecodedPacket & {
  rcode: string;
  flag_aa: boolean;
  flag_tc: boolean;
  flag_rd: boolean;
  flag_ra: boolean;
  flag_z: boolean;
};
const decode = (b: Buffer): Decoded => dnsPacket.decode(b) as Decoded;
const INSIDE = { address: '10.0.0.100', port: 40000, transport: 'udp' as const };
const OUTSIDE = { address: '192.0.2.7', port: 40000, transport: 'udp' as const };

/** A stand-in for the upstream side only: records what was forwarded, answers what the test says. */
class ScriptedRecursor implements Recursor {
  asked: Question[] = [];
  constructor(private readonly answer: (q: Question) => RecursionResult) {}
  opts: Parameters<Recursor['resolve']>[1][] = [];
  async resolve(q: Question, opts: Parameters<Recursor['resolve']>[1]): Promise<RecursionResult> {
    this.asked.push(q);
    this.opts.push(opts);
    return this.answer(q);
  }
}

const makeServer = (recursor: Recursor | null, opts: DnsFixtureOptions = {}): DnsServer => makeDnsServer(recursor, opts);

function query(name: string, type: string, extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ id: 0x4242, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' } as Question], ...extra });
}

function edns(version = 0, size = 1232): dnsPacket.Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: size, extendedRcode: 0, ednsVersion: version, flags: 0, options: [] } as unknown as dnsPacket.Answer;
}

const aRecords = (n: number, name: string): Answer[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'A', name, ttl: 60, class: 'IN', data: `198.51.100.${i % 250}` }) as Answer);

test('local name: AA set, RA clear without forwarding, question case echoed, id kept', async () => {
  const server = makeServer(null);
  const out = await server.handle(query('TEST.lxc', 'A'), INSIDE);
  assert.ok(out);
  const r = decode(out);
  assert.equal(r.id, 0x4242);
  assert.equal(r.flag_aa, true);
  assert.equal(r.flag_ra, false, 'no recursor: recursion is not available');
  assert.equal(r.flag_rd, true);
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.questions?.[0]?.name, 'TEST.lxc');
  assert.equal((r.answers![0] as { data: string }).data, '10.0.0.100');
});

test('recursion only for the bridge subnet: outsiders get REFUSED for foreign names, answers for ours', async () => {
  const recursor = new ScriptedRecursor(() => ({
    ok: true,
    rcode: 0,
    answers: aRecords(1, 'example.com'),
    authorities: [],
    additionals: [],
    source: 'upstream',
  }));
  const server = makeServer(recursor);
  const refused = decode((await server.handle(query('example.com', 'A'), OUTSIDE)) as Buffer);
  assert.equal(refused.rcode, 'REFUSED');
  assert.equal(recursor.asked.length, 0, 'nothing forwarded for an outsider');
  const local = decode((await server.handle(query('test.lxc', 'A'), OUTSIDE)) as Buffer);
  assert.equal(local.rcode, 'NOERROR');
  const forwarded = decode((await server.handle(query('example.com', 'A'), INSIDE)) as Buffer);
  assert.equal(forwarded.rcode, 'NOERROR');
  assert.equal(forwarded.flag_aa, false);
  assert.equal(recursor.asked.length, 1);
  assert.equal(server.mayRecurse('127.0.0.1'), true);
  assert.equal(server.mayRecurse('10.0.1.5'), false);
});

test('upstream failure gives SERVFAIL', async () => {
  const server = makeServer(new ScriptedRecursor(() => ({ ok: false, reason: 'timeout' })));
  const r = decode((await server.handle(query('example.com', 'A'), INSIDE)) as Buffer);
  assert.equal(r.rcode, 'SERVFAIL');
});

test('protocol errors: NOTIMP, FORMERR for QDCOUNT != 1 and undecodable input, silence for responses and runts', async () => {
  const server = makeServer(null);
  const status = query('test.lxc', 'A');
  status.writeUInt16BE((status.readUInt16BE(2) & ~0x7800) | (2 << 11), 2);
  assert.equal(decode((await server.handle(status, INSIDE)) as Buffer).rcode, 'NOTIMP');

  const two = dnsPacket.encode({
    id: 1,
    type: 'query',
    questions: [
      { name: 'a.lxc', type: 'A' },
      { name: 'b.lxc', type: 'A' },
    ] as Question[],
  });
  assert.equal(decode((await server.handle(two, INSIDE)) as Buffer).rcode, 'FORMERR');
  const none = dnsPacket.encode({ id: 1, type: 'query', questions: [] });
  assert.equal(decode((await server.handle(none, INSIDE)) as Buffer).rcode, 'FORMERR');

  const truncated = query('test.lxc', 'A').subarray(0, 20);
  assert.equal(decode((await server.handle(truncated, INSIDE)) as Buffer).rcode, 'FORMERR');

  const loop = Buffer.from(query('test.lxc', 'A'));
  loop[12] = 0xc0; // the question name becomes a pointer to itself
  loop[13] = 12;
  assert.equal(decode((await server.handle(loop, INSIDE)) as Buffer).rcode, 'FORMERR');

  const badLabel = Buffer.from(query('test.lxc', 'A'));
  badLabel[12] = 0x50; // label length 80 (> 63, reserved bits)
  const badOut = await server.handle(badLabel, INSIDE);
  assert.ok(badOut === null || decode(badOut).rcode === 'FORMERR');

  const response = Buffer.from(query('test.lxc', 'A'));
  response[2] = (response[2] as number) | 0x80;
  assert.equal(await server.handle(response, INSIDE), null);
  assert.equal(await server.handle(Buffer.alloc(5), INSIDE), null);

  const next = lcg32(7);
  for (let i = 0; i < 2000; i++) {
    const junk = junkBytes(next, next() % 300);
    await server.handle(junk, INSIDE); // must not throw
  }
  assert.ok(server.counters.malformed > 0);
});

test('EDNS: version > 0 gets BADVERS; OPT advertises 1232; reserved Z bit not echoed', async () => {
  const server = makeServer(null);
  const v1 = decode((await server.handle(query('test.lxc', 'A', { additionals: [edns(1)] }), INSIDE)) as Buffer);
  const opt = v1.additionals?.find((a) => a.type === 'OPT') as unknown as { extendedRcode: number; udpPayloadSize: number };
  assert.equal(v1.rcode, 'NOERROR', 'header rcode bits 0');
  assert.equal(opt.extendedRcode, 1, 'BADVERS = 16 = extended rcode 1');
  assert.equal(v1.answers?.length, 0);

  const withZ = query('test.lxc', 'A', { flags: dnsPacket.RECURSION_DESIRED | 0x40, additionals: [edns(0, 4096)] });
  const r = decode((await server.handle(withZ, INSIDE)) as Buffer);
  assert.equal(r.flag_z, false);
  const ropt = r.additionals?.find((a) => a.type === 'OPT') as unknown as { udpPayloadSize: number };
  assert.equal(ropt.udpPayloadSize, 1232);
  const two = query('test.lxc', 'A', { additionals: [edns(0), edns(0)] });
  assert.equal(decode((await server.handle(two, INSIDE)) as Buffer).rcode, 'FORMERR');
});

test('TC when the UDP answer does not fit the client size; the full answer over TCP', async () => {
  const server = makeServer(
    new ScriptedRecursor((q) => ({ ok: true, rcode: 0, answers: aRecords(30, q.name), authorities: [], additionals: [], source: 'upstream' })),
  );
  const plain = await server.handle(query('big.example', 'A'), INSIDE);
  assert.ok(plain && plain.length <= 512);
  const p = decode(plain);
  assert.equal(p.flag_tc, true);
  assert.equal(p.answers?.length, 0);
  const withEdns = await server.handle(query('big.example', 'A', { additionals: [edns(0, 4096)] }), INSIDE);
  assert.ok(withEdns && withEdns.length <= 1232);
  assert.equal(decode(withEdns).flag_tc, false, '30 uncompressed A records fit in 1232 bytes');
  const overTcp = await server.handle(query('big.example', 'A'), { ...INSIDE, transport: 'tcp' });
  assert.equal(decode(overTcp as Buffer).answers?.length, 30);
});

const forwarded = (): ScriptedRecursor =>
  new ScriptedRecursor((q) => ({
    ok: true,
    rcode: 0,
    answers: [{ type: 'PTR', name: q.name, ttl: 60, class: 'IN', data: 'upstream.example' } as Answer],
    authorities: [],
    additionals: [],
    source: 'upstream',
  }));

test('RA only where recursion is offered: set for the subnet with a forwarder, clear otherwise and never on REFUSED', async () => {
  const server = makeServer(forwarded());
  assert.equal(decode((await server.handle(query('test.lxc', 'A'), INSIDE)) as Buffer).flag_ra, true);
  assert.equal(decode((await server.handle(query('example.com', 'A'), INSIDE)) as Buffer).flag_ra, true);
  const local = decode((await server.handle(query('test.lxc', 'A'), OUTSIDE)) as Buffer);
  assert.equal(local.rcode, 'NOERROR');
  assert.equal(local.flag_ra, false, 'an outsider is offered no recursion');
  const refused = decode((await server.handle(query('example.com', 'A'), OUTSIDE)) as Buffer);
  assert.equal(refused.rcode, 'REFUSED');
  assert.equal(refused.flag_ra, false, 'RA on REFUSED');
  const fast = server.answerFast(query('test.lxc', 'A'), '192.0.2.7');
  assert.ok(fast);
  assert.equal(decode(fast).flag_ra, false, 'the fast path agrees');
  assert.equal(decode(server.answerFast(query('test.lxc', 'A'), '10.0.0.100') as Buffer).flag_ra, true);
});

test('the reverse zone is answered to the subnet and the host only; others get REFUSED (fast path declines)', async () => {
  const server = makeServer(forwarded());
  const ptr = query('100.0.0.10.in-addr.arpa', 'PTR');
  const inside = decode((await server.handle(ptr, INSIDE)) as Buffer);
  assert.equal(inside.rcode, 'NOERROR');
  assert.equal((inside.answers![0] as { data: string }).data, 'test.lxc');
  const outside = decode((await server.handle(ptr, OUTSIDE)) as Buffer);
  assert.equal(outside.rcode, 'REFUSED');
  assert.equal(outside.answers?.length, 0);
  assert.equal(outside.flag_ra, false);
  assert.equal(server.answerFast(ptr, '192.0.2.7'), null);
  assert.equal(decode((await server.handle(query('0.0.10.in-addr.arpa', 'SOA'), OUTSIDE)) as Buffer).rcode, 'REFUSED', 'apex too');
  assert.equal(decode((await server.handle(ptr, { ...INSIDE, address: '127.0.0.1' })) as Buffer).rcode, 'NOERROR', 'the host');
});

test('/23: reverse names of neighbouring networks are not ours: forwarded for the subnet, REFUSED outside; no false NXDOMAIN', async () => {
  const recursor = forwarded();
  const server = makeServer(recursor, { subnet: { ip: '10.0.0.1', prefixLength: 23 } });
  const neighbour = decode((await server.handle(query('5.2.0.10.in-addr.arpa', 'PTR'), INSIDE)) as Buffer);
  assert.equal(neighbour.rcode, 'NOERROR', 'not NXDOMAIN from us');
  assert.equal(neighbour.flag_aa, false);
  assert.deepEqual(
    recursor.asked.map((q) => q.name),
    ['5.2.0.10.in-addr.arpa'],
    'forwarded',
  );
  assert.equal(decode((await server.handle(query('7.2.0.10.in-addr.arpa', 'PTR'), OUTSIDE)) as Buffer).rcode, 'REFUSED');
  const own = decode((await server.handle(query('100.0.0.10.in-addr.arpa', 'PTR'), INSIDE)) as Buffer);
  assert.equal(own.flag_aa, true);
  assert.equal((own.answers![0] as { data: string }).data, 'test.lxc');
  const missing = decode((await server.handle(query('9.1.0.10.in-addr.arpa', 'PTR'), INSIDE)) as Buffer);
  assert.equal(missing.rcode, 'NXDOMAIN', 'an address of the subnet without a name');
  const node = decode((await server.handle(query('1.0.10.in-addr.arpa', 'PTR'), INSIDE)) as Buffer);
  assert.equal(node.rcode, 'NOERROR', '10.0.1.0/24 lies inside the subnet: an empty non-terminal, NODATA');
  assert.equal(node.flag_aa, true);
  assert.equal(recursor.asked.length, 1, 'names of the subnet are never forwarded');
});

test('NOTIMP for an unknown opcode copies RD (and only RD), with every other flag set in the query', async () => {
  const server = makeServer(forwarded());
  for (const transport of ['udp', 'tcp'] as const) {
    const q = Buffer.alloc(12);
    q.writeUInt16BE(0x5151, 0);
    q.writeUInt16BE((15 << 11) | 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0040 | 0x0020 | 0x0010, 2); // genreport "opcodeflg"
    const r = (await server.handle(q, { ...INSIDE, transport })) as Buffer;
    assert.ok(r);
    const flags = r.readUInt16BE(2);
    assert.equal(flags & 0xf, 4, 'NOTIMP');
    assert.equal((flags >> 11) & 0xf, 15, 'opcode echoed');
    assert.equal(flags & 0x0100, 0x0100, 'RD copied');
    assert.equal(flags & 0x0680, 0, 'AA, TC, RA clear');
    const norec = Buffer.from(q);
    norec.writeUInt16BE(15 << 11, 2);
    assert.equal(((await server.handle(norec, { ...INSIDE, transport })) as Buffer).readUInt16BE(2) & 0x0100, 0);
  }
});

test('the DO bit and the client address reach the recursor; RRSIGs pass through with DO and are removed without', async () => {
  const sig = {
    type: 'RRSIG',
    name: 'example.com',
    ttl: 60,
    class: 'IN',
    data: {
      typeCovered: 'A',
      algorithm: 13,
      labels: 2,
      originalTTL: 60,
      expiration: 2_000_000_000,
      inception: 1_700_000_000,
      keyTag: 1,
      signersName: 'example.com',
      signature: Buffer.alloc(64, 1),
    },
  } as unknown as Answer;
  const recursor = new ScriptedRecursor(() => ({
    ok: true,
    rcode: 0,
    answers: [...aRecords(1, 'example.com'), sig],
    authorities: [],
    additionals: [],
    source: 'upstream',
  }));
  const server = makeServer(recursor);
  const withDo = query('example.com', 'A', { additionals: [{ ...edns(), flags: 0x8000 } as unknown as dnsPacket.Answer] });
  const signed = decode((await server.handle(withDo, INSIDE)) as Buffer);
  assert.deepEqual(
    signed.answers?.map((a) => a.type),
    ['A', 'RRSIG'],
  );
  assert.deepEqual(recursor.opts[0], { checkingDisabled: false, dnssecOk: true, client: '10.0.0.100' });
  const plain = decode((await server.handle(query('example.com', 'A', { additionals: [edns()] }), INSIDE)) as Buffer);
  assert.deepEqual(
    plain.answers?.map((a) => a.type),
    ['A'],
  );
  assert.equal(recursor.opts[1]?.dnssecOk, false);
});

test('a forwarder refusal for a client over its cap is SERVFAIL at once; names and reasons are escaped in the log', async () => {
  const lines: string[] = [];
  const server = makeServer(new ScriptedRecursor(() => ({ ok: false, reason: 'limit: client\nwarn: forged' })), {
    log: { warn: (m) => lines.push(m), debug: (m) => lines.push(m) },
  });
  const r = decode((await server.handle(query('evil\u001b[31m\nerror: x.example', 'A'), INSIDE)) as Buffer);
  assert.equal(r.rcode, 'SERVFAIL');
  assert.equal(lines.length, 1);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for raw control characters in log lines
  assert.doesNotMatch(lines[0] as string, /[\n\u001b]/, `raw control characters in ${JSON.stringify(lines[0])}`);
});
