/**
 * Commits on the event loop while lightly loaded (src/dhcp/inline-sync.ts): the budget's share and cap, and the
 * transport's use of commitNow: the ACK leaves only after commitNow returned, never while an earlier group commit
 * still waits, and not at all when commitNow throws.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { INLINE_SYNC_BURST_MS, INLINE_SYNC_SHARE, InlineSyncBudget } from '../../../src/dhcp/inline-sync.ts';
import { emptyMessage, parseDhcpMessage, serializeDhcpMessage } from '../../../src/dhcp/message.ts';
import type { FramePort } from '../../../src/dhcp/transport.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { buildUdpFrame, parseUdpFrame } from '../../../src/wire/frame.ts';
import type { ReceivedFrame } from '../../../src/wire/packet-socket.ts';
import { FIXTURE_PORT_IFINDEX, FIXTURE_RELAY_IP, FIXTURE_SERVER_IP, transportFixture } from '../../harness/transport-fixture.ts';

test('the budget: a burst of INLINE_SYNC_BURST_MS, then INLINE_SYNC_SHARE of the time; a slow sync closes it for a while', () => {
  let now = 1000;
  const budget = new InlineSyncBudget(() => now);
  assert.equal(budget.allowed(), true);
  budget.spent(INLINE_SYNC_BURST_MS + 5);
  assert.equal(budget.allowed(), false, 'spent beyond the burst');
  now += 5 / INLINE_SYNC_SHARE - 1;
  assert.equal(budget.allowed(), false, 'not yet earned back');
  now += 2;
  assert.equal(budget.allowed(), true, 'earned back at the share');
  now += 1_000_000;
  assert.equal(budget.allowed(), true);
  budget.spent(INLINE_SYNC_BURST_MS + 0.5);
  assert.equal(budget.allowed(), false, 'a long idle spell saves up no more than the burst');
});

const RELAY_MAC = '02:00:00:00:00:02';

function relayed(client: number, type: MessageType, offered?: number): ReceivedFrame {
  const m = emptyMessage();
  m.op = 1;
  m.xid = client * 7 + type;
  m.giaddr = FIXTURE_RELAY_IP;
  m.chaddr.writeUInt32BE(0x06ee0000, 0);
  m.chaddr.writeUInt16BE(client, 4);
  m.options.setMessageType(type);
  if (offered !== undefined) {
    m.options.setIPv4(Option.RequestedIpAddress, offered);
    m.options.setIPv4(Option.ServerIdentifier, FIXTURE_SERVER_IP);
  }
  const payload = serializeDhcpMessage(m).data;
  const data = buildUdpFrame({
    srcMac: RELAY_MAC,
    dstMac: '02:00:00:00:00:01',
    srcIp: FIXTURE_RELAY_IP,
    dstIp: FIXTURE_SERVER_IP,
    srcPort: 67,
    dstPort: 67,
    ttl: 64,
    payload,
  });
  return { data, pktType: 0, ifindex: FIXTURE_PORT_IFINDEX };
}

function replyOf(frame: Buffer): { type: number | undefined; yiaddr: number } {
  const udp = parseUdpFrame(frame);
  if (!udp.ok) throw new Error(udp.reason);
  const msg = parseDhcpMessage(udp.datagram.payload);
  if (!msg.ok) throw new Error(msg.reason);
  return { type: msg.message.options.messageType, yiaddr: msg.message.yiaddr };
}

interface Setup {
  sent: Buffer[];
  events: string[];
  deliver(frames: ReceivedFrame[]): void;
  store: LeaseStore;
}

function setUp(t: TestContext, commitNow: (commit: () => void, events: string[]) => () => void): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-inline-sync-'));
  const store = LeaseStore.open(join(dir, 'leases.db'), { groupCommit: true });
  const pool = new AddressPool(parseIPv4('10.0.1.0') as number, parseIPv4('10.0.1.254') as number);
  const sent: Buffer[] = [];
  const events: string[] = [];
  const port: FramePort = {
    mac: '02:00:00:00:00:01',
    mtu: 1500,
    send: (f) => port.sendMany([f]) === 1,
    sendMany: (fs) => {
      for (const f of fs) {
        sent.push(f);
        events.push(`sent ${replyOf(f).type}`);
      }
      return fs.length;
    },
    isBridgePort: (ifindex) => ifindex === FIXTURE_PORT_IFINDEX,
    close: () => undefined,
  };
  const fixture = transportFixture({ store, pool, port, inlineCommit: (commit) => commitNow(commit, events) });
  t.after(() => {
    fixture.transport.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { sent, events, deliver: fixture.deliver, store };
}

test('lightly loaded: the ACK leaves within the wakeup, right after commitNow made the binding durable', (t) => {
  const s = setUp(t, (commit, events) => () => {
    commit();
    events.push('committed');
  });
  s.deliver([relayed(1, MessageType.Discover)]);
  const offer = replyOf(s.sent[0] as Buffer);
  assert.equal(offer.type, MessageType.Offer);
  s.events.length = 0;
  s.deliver([relayed(1, MessageType.Request, offer.yiaddr)]);
  assert.deepEqual(s.events, ['committed', `sent ${MessageType.Ack}`], 'no waiting for a thread-pool sync');
  assert.equal(s.store.syncInFlight, false);
});

test('while an earlier group commit still waits, the next batch joins it: its ACK waits too, in order', async (t) => {
  let inline = 0;
  const s = setUp(t, (commit) => () => {
    inline++;
    commit();
  });
  s.deliver([relayed(1, MessageType.Discover), relayed(2, MessageType.Discover)]);
  const [a, b] = s.sent.map((f) => replyOf(f).yiaddr);
  s.store.stage({
    ip: parseIPv4('10.0.1.250') as number,
    mac: '02:00:00:00:00:99',
    clientId: null,
    hostname: null,
    state: 'bound',
    expiresAt: Date.now() + 1000,
    updatedAt: Date.now(),
  });
  let groupDone = false;
  s.store.commitThen(() => {
    groupDone = true;
  });
  assert.equal(s.store.syncInFlight, true, 'a group sync runs');
  s.events.length = 0;
  inline = 0;
  s.deliver([relayed(1, MessageType.Request, a), relayed(2, MessageType.Request, b)]);
  assert.equal(inline, 0, 'commitNow is not used while a sync is in flight');
  assert.deepEqual(s.events, [], 'no ACK before the group sync');
  while (s.events.length < 2) await new Promise((r) => setTimeout(r, 5));
  assert.equal(groupDone, true, 'the earlier commit finished first');
  assert.deepEqual(s.events, [`sent ${MessageType.Ack}`, `sent ${MessageType.Ack}`]);
});

test('commitNow throws: no ACK is sent', (t) => {
  const s = setUp(t, () => () => {
    throw new Error('disk full');
  });
  s.deliver([relayed(3, MessageType.Discover)]);
  const offer = replyOf(s.sent[0] as Buffer);
  s.events.length = 0;
  s.deliver([relayed(3, MessageType.Request, offer.yiaddr)]);
  assert.deepEqual(s.events, [], 'the ACK is withheld');
});
