/**
 * Fuzz test of the DHCPv6 input path, like test/unit/dhcp/fuzz.test.ts: a fixed-seed PRNG mutates real and built
 * client messages (bit flips, interesting 16-bit values in lengths and codes, cuts, splices, repeated options) and
 * adds random payloads. Every case must leave the parser and a stateful Dhcp6Server without a throw; every reply must
 * parse back as an Advertise or Reply; and the address book must never give one address to two owners. A failure
 * names the seed and case.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDhcp6Message } from '../../../src/dhcp6/message.ts';
import { IPV6_MIN_PAYLOAD, MessageType } from '../../../src/dhcp6/vocabulary.ts';
import { mulberry32 } from '../../harness/prng.ts';
import { clientMessage, MAC_A, MAC_B, SERVER_DUID, stateful, wire } from './fixture.ts';

const SEED = process.env.FUZZ_SEED === undefined ? 0x6dc9f00d : Number(process.env.FUZZ_SEED) >>> 0;
/** Bounded so the file runs in a second or two on the shared machine. */
const CASES = 8_000;

type Rng = () => number;
const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T>(rng: Rng, list: readonly T[]): T => list[int(rng, list.length)] as T;

const CORPUS: Buffer[] = [
  Buffer.from('01ce725e0001000e0001000132a98e04021ab00000070006000400170018000800020000002700070004626f7837000003000cb000000700000e1000001518', 'hex'),
  clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true, fqdn: 'a.b' }),
  clientMessage({ type: MessageType.Request, serverId: SERVER_DUID, ias: [{ iaid: 1 }, { iaid: 2 }] }),
  clientMessage({ type: MessageType.Renew, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: ['fd42:1:2:3::100'] }] }),
  clientMessage({ type: MessageType.Rebind, ias: [{ iaid: 1, addresses: ['fd42:1:2:3::101', '2001:db8::1'] }] }),
  clientMessage({ type: MessageType.Release, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: ['fd42:1:2:3::100'] }] }),
  clientMessage({ type: MessageType.Decline, serverId: SERVER_DUID, ias: [{ iaid: 2, addresses: ['fd42:1:2:3::102'] }] }),
  clientMessage({ type: MessageType.Confirm, ias: [{ iaid: 1, addresses: ['fd42:1:2:3::100'] }] }),
  clientMessage({ type: MessageType.InformationRequest, oro: [23, 24, 32] }),
];
const INTERESTING16 = [0, 1, 2, 3, 4, 5, 12, 13, 14, 23, 24, 39, 79, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff];

function mutate(rng: Rng, input: Buffer): Buffer {
  const b = Buffer.from(input);
  switch (int(rng, 6)) {
    case 0:
      for (let i = int(rng, 4) + 1; i > 0 && b.length > 0; i--) {
        const at = int(rng, b.length);
        b[at] = (b[at] as number) ^ (1 << int(rng, 8));
      }
      return b;
    case 1:
      if (b.length >= 2) b.writeUInt16BE(pick(rng, INTERESTING16), int(rng, b.length - 1));
      return b;
    case 2:
      return b.subarray(0, int(rng, b.length + 1));
    case 3:
      return Buffer.concat([b.subarray(0, int(rng, b.length)), pick(rng, CORPUS).subarray(int(rng, 40))]);
    case 4: {
      // The same option again and again (after the header).
      const at = 4 + int(rng, Math.max(1, b.length - 4));
      const piece = b.subarray(at, at + 4 + int(rng, 30));
      return Buffer.concat([b, ...Array.from({ length: int(rng, 80) }, () => piece)]);
    }
    default:
      return Buffer.from(Array.from({ length: int(rng, 200) }, () => int(rng, 256)));
  }
}

test(`DHCPv6 fuzz: ${CASES} cases, seed 0x${SEED.toString(16)}`, () => {
  const rng = mulberry32(SEED);
  const f = stateful({}, { first: 'fd42:1:2:3::100', last: 'fd42:1:2:3::10f' });
  const macs = [MAC_A, MAC_B, '02:1a:b0:00:00:07', '02:1a:b0:00:00:08'];
  let replies = 0;
  for (let i = 0; i < CASES; i++) {
    const bytes = mutate(rng, pick(rng, CORPUS));
    const where = `seed 0x${SEED.toString(16)} case ${i}`;
    try {
      parseDhcp6Message(bytes);
      const d = f.server.handle(bytes, wire(pick(rng, macs), rng() < 0.95));
      if (d.kind === 'reply') {
        replies++;
        const back = parseDhcp6Message(d.payload);
        assert.ok(back.ok, `${where}: our reply does not parse`);
        assert.ok(d.payload.length <= IPV6_MIN_PAYLOAD, `${where}: a reply of ${d.payload.length} bytes`);
        assert.ok(back.message.type === MessageType.Advertise || back.message.type === MessageType.Reply, where);
      }
      if (i % 64 === 0) {
        f.clock.now += 600_000;
        f.server.tick();
        f.store.commit();
      }
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).stack}`);
    }
    const owners = new Map<string, string>();
    for (const lease of f.book.leases()) {
      const key = `${lease.mac}/${lease.iaid}`;
      assert.equal(owners.get(lease.ip), undefined, `${where}: ${lease.ip} held twice`);
      owners.set(lease.ip, key);
    }
  }
  if (process.env.FUZZ_STATS) console.log({ replies, leases: f.book.leases().length, refusals: f.book.refusals });
  assert.ok(replies > CASES / 20, `only ${replies} replies: the mutations hardly reach the server`);
});
