/**
 * A fuzz test of the DNS input path (issue 11, item 7): valid queries built with dns-packet (our names, the apex, the
 * reverse zone, names outside, with and without EDNS, odd flags, opcodes and counts), mutated by a fixed-seed PRNG
 * (mulberry32), and plain random bytes, fed to DnsServer.handle (UDP and TCP, from inside and outside the subnet) and to
 * its fast path (answerFast). Neither may throw, and every response must decode with dns-packet, have QR set and carry
 * the query's id. The seed and count are fixed so a failure is reproducible; DNS_FUZZ_SEED / DNS_FUZZ_COUNT explore
 * further by hand. A failure names the seed, the case number and the input as hex.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { parseUpstream } from '../../../src/dns/forward/upstream.ts';
import type { Answer, Question } from '../../../src/dns/message.ts';
import { createRecursor } from '../../../src/dns/recursor.ts';
import type { DnsServer, RecursionResult, Recursor } from '../../../src/dns/server.ts';
import { mulberry32 } from '../../harness/prng.ts';
import { makeDnsServer } from './fixture.ts';

const SEED = Number(process.env.DNS_FUZZ_SEED ?? 0x1c0ffee);
const COUNT = Number(process.env.DNS_FUZZ_COUNT ?? 20_000);

interface Rng {
  int(n: number): number;
  pick<T>(list: readonly T[]): T;
  chance(p: number): boolean;
}

function rngFrom(seed: number): Rng {
  const next = mulberry32(seed);
  return {
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)] as never,
    chance: (p) => next() < p,
  };
}

const NAMES = [
  'test.lxc',
  'TEST.LxC',
  'web.lxc',
  'lxc',
  'ns.lxc',
  'nosuch.lxc',
  'a.b.lxc',
  `${'x'.repeat(63)}.lxc`,
  '100.0.0.10.in-addr.arpa',
  '5.0.0.10.in-addr.arpa',
  '77.0.0.10.in-addr.arpa',
  '0.0.10.in-addr.arpa',
  '10.in-addr.arpa',
  '1.1.0.10.in-addr.arpa',
  '1.0.0.127.in-addr.arpa',
  'www.example.com',
  'WWW.Example.Com',
  'example.com',
  'cached.example.com',
  'big.example.com',
  'fail.example.com',
  'com',
  '.',
  `${'a.'.repeat(120)}lxc`,
];
const TYPES = ['A', 'AAAA', 'ANY', 'PTR', 'SOA', 'NS', 'MX', 'TXT', 'CNAME', 'SRV', 'DS', 'DNSKEY', 'RRSIG', 'NSEC', 'OPT', 'AXFR', 'CAA'];
const CLIENTS = [
  { address: '10.0.0.100', port: 40000, transport: 'udp' as const },
  { address: '10.0.0.100', port: 40001, transport: 'tcp' as const },
  { address: '192.0.2.7', port: 40000, transport: 'udp' as const },
  { address: '198.51.100.1', port: 40002, transport: 'tcp' as const },
  { address: '127.0.0.1', port: 40003, transport: 'udp' as const },
];
/** Byte values that mean something in DNS: label limits, pointers, extended label types, counts. */
const INTERESTING = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xff, 0x29, 0x2e];

/** A valid query: a name and type from the lists, random flags, maybe EDNS with odd values. */
function validQuery(rng: Rng): Buffer {
  const flags =
    (rng.chance(0.8) ? dnsPacket.RECURSION_DESIRED : 0) |
    (rng.chance(0.1) ? dnsPacket.CHECKING_DISABLED : 0) |
    (rng.chance(0.05) ? dnsPacket.AUTHENTIC_DATA : 0) |
    (rng.chance(0.05) ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    (rng.chance(0.05) ? dnsPacket.AUTHORITATIVE_ANSWER : 0);
  const additionals: dnsPacket.Answer[] = [];
  if (rng.chance(0.5)) {
    additionals.push({
      type: 'OPT',
      name: '.',
      udpPayloadSize: rng.pick([0, 1, 512, 1232, 4096, 65535]),
      extendedRcode: rng.chance(0.9) ? 0 : rng.int(256),
      ednsVersion: rng.chance(0.9) ? 0 : rng.int(256),
      flags: rng.chance(0.5) ? dnsPacket.DNSSEC_OK : rng.int(0x10000),
      options: rng.chance(0.8) ? [] : [{ code: rng.pick([3, 8, 10, 12, 65001]), data: Buffer.alloc(rng.int(20), rng.int(256)) }],
    } as unknown as dnsPacket.Answer);
    if (rng.chance(0.05)) additionals.push(additionals[0] as dnsPacket.Answer);
  }
  const questions = [{ name: rng.pick(NAMES), type: rng.pick(TYPES), class: rng.chance(0.95) ? 'IN' : rng.pick(['CH', 'ANY', 'HS']) }] as Question[];
  if (rng.chance(0.03)) questions.push({ name: rng.pick(NAMES), type: 'A', class: 'IN' } as Question);
  const answers: dnsPacket.Answer[] = rng.chance(0.03) ? [{ type: 'A', name: 'test.lxc', ttl: 1, class: 'IN', data: '10.0.0.9' }] : [];
  const out = Buffer.from(dnsPacket.encode({ id: rng.int(0x10000), type: 'query', flags, questions: rng.chance(0.02) ? [] : questions, answers, additionals }));
  if (rng.chance(0.1)) out[2] = ((out[2] as number) & 0x87) | (rng.int(16) << 3); // opcode
  if (rng.chance(0.05)) out.writeUInt16BE(rng.int(4), 4); // qdcount that may lie
  if (rng.chance(0.03)) out.writeUInt16BE(rng.int(0x10000), 6 + 2 * rng.int(3)); // an/ns/ar count that may lie
  if (rng.chance(0.02)) out[3] = rng.int(256); // RA, Z, rcode in a query
  return out;
}

function mutate(rng: Rng, input: Buffer, other: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(8)) {
      case 0: // flip bits
        for (let i = 1 + rng.int(8); i > 0 && b.length > 0; i--) {
          const at = rng.int(b.length);
          b[at] = (b[at] as number) ^ (1 << rng.int(8));
        }
        break;
      case 1: // interesting bytes, mostly after the header
        for (let i = 1 + rng.int(3); i > 0 && b.length > 0; i--)
          b[rng.chance(0.8) && b.length > 12 ? 12 + rng.int(b.length - 12) : rng.int(b.length)] = rng.pick(INTERESTING);
        break;
      case 2: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 3: // append junk
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + rng.int(40) }, () => rng.int(256)))]);
        break;
      case 4: // splice with another query
        b = Buffer.concat([b.subarray(0, rng.int(b.length + 1)), other.subarray(rng.int(other.length + 1))]);
        break;
      case 5: // a compression pointer somewhere in the name or records
        if (b.length > 13) {
          const at = 12 + rng.int(b.length - 13);
          b[at] = 0xc0 | rng.int(0x40);
          b[at + 1] = rng.int(256);
        }
        break;
      case 6: // duplicate a region
        if (b.length > 0) {
          const from = rng.int(b.length);
          const to = from + rng.int(b.length - from + 1);
          b = Buffer.concat([b.subarray(0, to), b.subarray(from, to), b.subarray(to)]);
        }
        break;
      default: // rewrite a 16-bit field: counts, types, classes, lengths
        if (b.length >= 2) b.writeUInt16BE(rng.pick([0, 1, 2, 0x29, 0xff, 0x100, 0x7fff, 0xffff, rng.int(0x10000)]), rng.int(b.length - 1));
    }
  }
  return b;
}

function randomBytes(rng: Rng): Buffer {
  return Buffer.from(Array.from({ length: rng.int(rng.chance(0.9) ? 64 : 700) }, () => rng.int(256)));
}

/** Upstream answers as the forwarder would hand them over, without any socket: plain, big, signed, failed. */
class ScriptedRecursor implements Recursor {
  constructor(private readonly wire: Recursor) {}
  async resolve(question: Question): Promise<RecursionResult> {
    const name = question.name;
    if (/^fail\./i.test(name)) return { ok: false, reason: 'timeout' };
    const count = /^big\./i.test(name) ? 60 : 1;
    const answers = Array.from({ length: count }, (_, i) => ({ type: 'A', name, ttl: 60, class: 'IN', data: `198.51.100.${i % 250}` }) as Answer);
    answers.push({
      type: 'RRSIG',
      name,
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
    } as unknown as Answer);
    return { ok: true, rcode: /^nx/i.test(name) ? 3 : 0, answers, authorities: [], additionals: [], source: 'upstream' };
  }
  // Spread arguments: the cache lookups pass through whatever the Recursor interface asks (flags grow over time).
  readonly cached = (...args: Parameters<NonNullable<Recursor['cached']>>): RecursionResult | null => this.wire.cached?.(...args) ?? null;
  readonly cachedWire = (...args: Parameters<NonNullable<Recursor['cachedWire']>>): ReturnType<NonNullable<Recursor['cachedWire']>> =>
    this.wire.cachedWire?.(...args) ?? null;
}

/**
 * The labels of the question name in `query` (pointers followed, bounded), or null when there is no readable name.
 * Used only to recognise inputs that hit the known defect below.
 */
function questionLabels(query: Buffer): Buffer[] | null {
  const labels: Buffer[] = [];
  let at = 12;
  for (let steps = 0; steps < 300; steps++) {
    const length = query[at];
    if (length === undefined) return null;
    if (length === 0) return labels;
    if ((length & 0xc0) === 0xc0) {
      const low = query[at + 1];
      if (low === undefined) return null;
      at = ((length & 0x3f) << 8) | low;
      continue;
    }
    if (length > 63 || at + 1 + length > query.length) return null;
    labels.push(query.subarray(at + 1, at + 1 + length));
    at += 1 + length;
  }
  return null;
}

/**
 * A finding of this fuzz (see the test below): dns-packet decodes a label holding a "." byte into a name string that
 * re-encodes as two labels, so the general path echoed a question that was not the one asked, often malformed. Such
 * queries now get FORMERR (src/dns/message.ts decodeMessage); the fuzz checks that they do.
 */
const hasDotInLabel = (query: Buffer): boolean => questionLabels(query)?.some((label) => label.includes(0x2e)) ?? false;

/** Why `response` (to `query`) is not acceptable, or null when it is. */
function problemWith(query: Buffer, response: Buffer): string | null {
  if (response.length < 12 || (response.readUInt16BE(2) & 0x8000) === 0) return `QR not set; response ${response.toString('hex')}`;
  if (query.length < 2 || response.readUInt16BE(0) !== query.readUInt16BE(0)) return `id is not the query's; response ${response.toString('hex')}`;
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(response);
  } catch (e) {
    return `response does not decode: ${(e as Error).message}; response ${response.toString('hex')}`;
  }
  if (decoded.id !== query.readUInt16BE(0)) return `decoded id ${decoded.id} is not the query's; response ${response.toString('hex')}`;
  return null;
}

test(`fuzzing DnsServer.handle and answerFast: ${COUNT} cases from seed ${SEED} never throw and give well-formed answers`, async () => {
  const rng = rngFrom(SEED);
  // A real cache (forwarder never asked: its sockets open only on a miss, which the stand-in below takes instead).
  const realRecursor = createRecursor({ upstreams: [parseUpstream('192.0.2.53')], resolvConf: '/nonexistent', ignore: [] });
  try {
    const cachedQuestion = { name: 'cached.example.com', type: 'A', class: 'IN' } as const;
    realRecursor.cache.put(
      cachedQuestion,
      dnsPacket.decode(
        dnsPacket.encode({
          type: 'response',
          id: 1,
          flags: dnsPacket.RECURSION_AVAILABLE,
          questions: [cachedQuestion],
          answers: [
            { type: 'CNAME', name: 'cached.example.com', ttl: 300, class: 'IN', data: 'web.example.net' },
            { type: 'A', name: 'web.example.net', ttl: 300, class: 'IN', data: '198.51.100.7' },
          ],
        }),
      ),
      Date.now(),
    );
    const servers: DnsServer[] = [makeDnsServer(null, { reserveWeb: true }), makeDnsServer(new ScriptedRecursor(realRecursor), { reserveWeb: true })];
    const seeds = Array.from({ length: 64 }, () => validQuery(rng));
    const stats = { fastAnswers: 0, generalAnswers: 0, silent: 0, labelWithDot: 0 };
    for (let i = 0; i < COUNT; i++) {
      const kind = rng.int(10);
      const input = kind < 2 ? validQuery(rng) : kind < 9 ? mutate(rng, rng.pick(seeds), rng.pick(seeds)) : randomBytes(rng);
      const server = rng.pick(servers);
      const client = rng.pick(CLIENTS);
      const dotInLabel = hasDotInLabel(input);
      if (dotInLabel) stats.labelWithDot++;
      const where = `seed ${SEED} case ${i} (client ${client.address} ${client.transport}), input ${input.toString('hex')}`;
      let fast: Buffer | null;
      try {
        fast = server.answerFast(input, client.address);
      } catch (e) {
        assert.fail(`answerFast threw ${(e as Error).stack}\n${where}`);
      }
      if (fast !== null) {
        stats.fastAnswers++;
        const problem = problemWith(input, fast);
        assert.equal(problem, null, `answerFast: ${problem}\n${where}`);
      }
      let general: Buffer | null;
      try {
        general = await server.handle(Buffer.from(input), client);
      } catch (e) {
        assert.fail(`handle threw ${(e as Error).stack}\n${where}`);
      }
      if (general === null) stats.silent++;
      else {
        stats.generalAnswers++;
        const problem = problemWith(input, general);
        assert.equal(problem, null, `handle: ${problem}\n${where}`);
        if (dotInLabel && (general.readUInt16BE(2) & 0x7800) === 0) {
          assert.equal(general.readUInt16BE(2) & 0xf, 1, `a label with a "." byte is FORMERR\n${where}`);
        }
      }
    }
    // The generator must reach every outcome, or the fuzz proves little.
    assert.ok(stats.fastAnswers > COUNT / 50, `fast path answered ${stats.fastAnswers}`);
    assert.ok(stats.generalAnswers > COUNT / 4, `general path answered ${stats.generalAnswers}`);
    assert.ok(stats.silent > COUNT / 100, `silent for ${stats.silent}`);
  } finally {
    realRecursor.close();
  }
});

test('a question whose label holds a "." byte gets FORMERR or silence, never a re-split echo of the name', {
  /* finding of the fuzz (seed 0x1c0ffee case 256): the general path answered a re-split, malformed question */
}, async () => {
  // id 0x4242, RD, one question: labels "a.b" and "lxc" (a two-label name that prints like "a.b.lxc"), type A.
  const query = Buffer.from('424201000001000000000000' + '03612e62' + '036c7863' + '00' + '00010001', 'hex');
  for (const server of [makeDnsServer(null), makeDnsServer(null, { reserveWeb: true })]) {
    for (const client of CLIENTS) {
      const response = await server.handle(query, client);
      if (response === null) continue;
      const decoded = dnsPacket.decode(response) as dnsPacket.DecodedPacket & { rcode: string };
      assert.equal(decoded.rcode, 'FORMERR', `${client.address}: ${response.toString('hex')}`);
    }
  }
});
