/**
 * Regressions for what the DHCP fuzz test (fuzz.test.ts) found. Seed 0x11dcf00d, case 13595: a DECLINE from a MAC whose
 * lease on an address has ended (released or expired, so the record still names it) was accepted, quarantining an
 * address that was by then offered to another client; that client's next DISCOVER with rapid commit made
 * DhcpServer.handle() throw ("address … is quarantined after a decline" from LeaseTable.bind), which the daemon counts
 * as internal-error and which leaves the client unserved until its offer expires. Issue 11: DECLINE needs an active
 * lease or a pending offer of that MAC. Seed 4, case 19415 (and seeds 1, 5, 9 through the transport): a RELEASE (or the
 * lease's expiry) left the client's pending offer in place, so its address went back to the pool while still "offered" to it; offered and
 * bound to another client, it was then offered to both, and the first client's rapid commit made handle() throw
 * ("address … is bound to …, cannot bind it to …"), counted as internal-error by the daemon.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { emptyMessage } from '../../../src/dhcp/message.ts';
import { type Decision, DhcpServer, type IncomingRequest, settled } from '../../../src/dhcp/server.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseStore } from '../../../src/leases/store.ts';
import { LeaseTable } from '../../../src/leases/table.ts';
import { macToBytes, parseIPv4 } from '../../../src/net/address.ts';

const ip = (text: string): number => parseIPv4(text) as number;
const SERVER_IP = ip('10.0.0.1');
const X = ip('10.0.0.105');
const FORMER_HOLDER = '02:1a:b0:00:00:0d';
const NEWCOMER = '02:1a:b0:00:00:0e';
const RELEASER = '02:1a:b0:00:00:0f';

function setUp(t: TestContext): { table: LeaseTable; server: DhcpServer; clock: { now: number } } {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-fuzz-findings-'));
  const store = LeaseStore.open(join(dir, 'leases.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { now: 1_700_000_000_000 };
  const pool = new AddressPool(ip('10.0.0.100'), ip('10.0.0.110'));
  const table = new LeaseTable({ store, pool, now: () => clock.now });
  table.load();
  const server = new DhcpServer({
    names: new HostNames(),
    network: { serverIp: SERVER_IP, prefixLength: 24, routers: [SERVER_IP], dnsServers: [SERVER_IP], domain: 'lxc', mtu: 1500 },
    leaseSeconds: 3600,
    rapidCommit: true,
    offerHoldMs: 30_000,
    declineQuarantineMs: 600_000,
    leases: table,
    pool,
    reservations: [],
    prober: null,
    readyTarget: 0,
    readyFreshMs: 60_000,
    now: () => clock.now,
  });
  return { table, server, clock };
}

/** A request straight from the client (Ethernet source = chaddr). */
function request(type: MessageType, mac: string, f: { requested?: number; ciaddr?: number; rapidCommit?: boolean; serverId?: number } = {}): IncomingRequest {
  const m = emptyMessage();
  m.op = 1;
  m.xid = 0x4242;
  macToBytes(mac).copy(m.chaddr);
  m.options.setMessageType(type);
  if (f.requested !== undefined) m.options.setIPv4(Option.RequestedIpAddress, f.requested);
  if (f.ciaddr !== undefined) m.ciaddr = f.ciaddr;
  if (f.serverId !== undefined) m.options.setIPv4(Option.ServerIdentifier, f.serverId);
  if (f.rapidCommit === true) m.options.set(Option.RapidCommit, Buffer.alloc(0));
  // The bridge port and UDP source issue 11 adds to IncomingRequest: one port per client; spread so both versions compile.
  const wire = { port: mac === FORMER_HOLDER ? 2 : mac === NEWCOMER ? 3 : 4, srcIp: f.ciaddr ?? 0 };
  return { message: m, frameSrcMac: mac, ...wire };
}

async function decide(server: DhcpServer, r: IncomingRequest): Promise<Decision> {
  try {
    return await settled(server.handle(r));
  } catch (e) {
    assert.fail(`DhcpServer.handle threw: ${(e as Error).message}`);
  }
}

for (const ending of ['released', 'expired'] as const) {
  test(`DECLINE from a MAC whose lease ${ending} does not quarantine the address now offered to another client`, async (t) => {
    const { table, server, clock } = setUp(t);
    const bound = await decide(server, request(MessageType.Discover, FORMER_HOLDER, { requested: X, rapidCommit: true }));
    assert.ok(bound.kind === 'reply' && bound.reply.yiaddr === X, 'the former holder got X');
    table.commit();
    if (ending === 'released') {
      assert.equal((await decide(server, request(MessageType.Release, FORMER_HOLDER, { ciaddr: X }))).kind, 'silent');
    } else {
      clock.now += 3601_000;
      server.tick();
    }
    table.commit();

    const offer = await decide(server, request(MessageType.Discover, NEWCOMER, { requested: X }));
    assert.ok(offer.kind === 'reply' && offer.reply.yiaddr === X, 'X offered to the newcomer');

    const decline = await decide(server, request(MessageType.Decline, FORMER_HOLDER, { requested: X }));
    assert.equal(decline.kind, 'drop', `a DECLINE with no active lease or offer was acted on: ${JSON.stringify(decline)}`);
    assert.notEqual(table.byIp(X)?.state, 'declined', 'X was quarantined');

    const ack = await decide(server, request(MessageType.Discover, NEWCOMER, { rapidCommit: true }));
    assert.ok(ack.kind === 'reply' && ack.reply.yiaddr === X, `the newcomer's rapid commit: ${JSON.stringify(ack)}`);
  });
}

test('whatever happened to its offered address, a client with a pending offer is answered, never an exception', async (t) => {
  const { table, server } = setUp(t);
  await decide(server, request(MessageType.Discover, FORMER_HOLDER, { requested: X, rapidCommit: true }));
  await decide(server, request(MessageType.Release, FORMER_HOLDER, { ciaddr: X }));
  table.commit();
  await decide(server, request(MessageType.Discover, NEWCOMER, { requested: X }));
  await decide(server, request(MessageType.Decline, FORMER_HOLDER, { requested: X }));
  const ack = await decide(server, request(MessageType.Discover, NEWCOMER, { rapidCommit: true }));
  assert.ok(ack.kind === 'reply' && ack.reply.options.messageType === MessageType.Ack, `the newcomer's rapid commit: ${JSON.stringify(ack)}`);
  assert.notEqual(table.byIp(ack.reply.yiaddr)?.state, 'declined', 'bound to a quarantined address');
});

for (const ending of ['released', 'expired'] as const) {
  test(`a lease that ${ending} takes its client's pending offer with it: no address offered to two clients, no exception`, async (t) => {
    const { table, server, clock } = setUp(t);
    const bound = await decide(server, request(MessageType.Discover, RELEASER, { requested: X, rapidCommit: true }));
    assert.ok(bound.kind === 'reply' && bound.reply.yiaddr === X, 'the first client got X');
    table.commit();
    if (ending === 'expired') clock.now += 3590_000;
    // A DISCOVER while bound: the client is offered its own address (a pending offer, held 30 s).
    const own = await decide(server, request(MessageType.Discover, RELEASER));
    assert.ok(own.kind === 'reply' && own.reply.yiaddr === X);
    if (ending === 'released') {
      assert.equal((await decide(server, request(MessageType.Release, RELEASER, { ciaddr: X }))).kind, 'silent');
    } else {
      clock.now += 11_000; // the lease is over, the offer's 30 s are not
      server.tick();
    }
    table.commit();

    const offer = await decide(server, request(MessageType.Discover, NEWCOMER, { requested: X }));
    assert.ok(offer.kind === 'reply' && offer.reply.yiaddr === X, 'X offered to the newcomer');
    const again = await decide(server, request(MessageType.Discover, RELEASER));
    assert.ok(!(again.kind === 'reply' && again.reply.yiaddr === X), 'X offered to the first client too, while it is offered to the newcomer');

    const ack = await decide(server, request(MessageType.Request, NEWCOMER, { requested: X, serverId: SERVER_IP }));
    assert.ok(ack.kind === 'reply' && ack.reply.options.messageType === MessageType.Ack && ack.reply.yiaddr === X, 'the newcomer bound X');
    table.commit();
    const rapid = await decide(server, request(MessageType.Discover, RELEASER, { rapidCommit: true }));
    if (rapid.kind === 'reply') assert.notEqual(rapid.reply.yiaddr, X, 'X given to the first client while bound to the newcomer');
  });
}
