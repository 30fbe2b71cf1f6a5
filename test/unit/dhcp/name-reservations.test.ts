/**
 * Reservations by host name (`--host NAME,IP`, dnsmasq's `dhcp-host=NAME,IP`, issue 14 item 3) as the DHCPv4 server
 * decides them: the first client sending the name gets the address, the lease then follows its MAC, a second client
 * with the same name gets a pool address and no DNS name, and the address is never handed out from the pool.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NameReservation } from '../../../src/config/reservations.ts';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { emptyMessage } from '../../../src/dhcp/message.ts';
import { type Decision, DhcpServer, type IncomingRequest } from '../../../src/dhcp/server.ts';
import { MemoryLeaseStore } from '../../../src/leases/memory-store.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { AddressPool } from '../../../src/leases/pool.ts';
import { LeaseTable } from '../../../src/leases/table.ts';
import { macToBytes, parseIPv4 } from '../../../src/net/address.ts';

const ip = (text: string): number => parseIPv4(text) as number;
const SERVER_IP = ip('10.0.0.1');
const FIRST = ip('10.0.0.100');
const LAST = ip('10.0.0.103');
const RESERVED = ip('10.0.0.50');
const IN_RANGE = ip('10.0.0.101');
const T0 = 1_700_000_000_000;
const LEASE_SECONDS = 600;
const A = '00:16:3e:00:00:0a';
const B = '00:16:3e:00:00:0b';

function setUp(byName: NameReservation[] = [{ name: 'web', ip: RESERVED }]) {
  const clock = { now: T0 };
  const pool = new AddressPool(FIRST, LAST);
  const table = new LeaseTable({ store: new MemoryLeaseStore(), pool, now: () => clock.now });
  table.load();
  const names = new HostNames();
  const server = new DhcpServer({
    names,
    network: { serverIp: SERVER_IP, prefixLength: 24, routers: [SERVER_IP], dnsServers: [SERVER_IP], domain: 'lxc', mtu: 1500 },
    leaseSeconds: LEASE_SECONDS,
    rapidCommit: false,
    offerHoldMs: 30_000,
    declineQuarantineMs: 600_000,
    leases: table,
    pool,
    reservations: [],
    nameReservations: byName,
    prober: null,
    readyTarget: 0,
    readyFreshMs: 60_000,
    now: () => clock.now,
  });
  const handle = (type: MessageType, mac: string, f: { hostname?: string; requested?: number; serverId?: number; ciaddr?: number } = {}): Decision => {
    const m = emptyMessage();
    m.op = 1;
    m.htype = 1;
    m.hlen = 6;
    m.xid = 0x42;
    m.ciaddr = f.ciaddr ?? 0;
    macToBytes(mac).copy(m.chaddr, 0);
    m.options.setMessageType(type);
    if (f.requested !== undefined) m.options.setIPv4(Option.RequestedIpAddress, f.requested);
    if (f.serverId !== undefined) m.options.setIPv4(Option.ServerIdentifier, f.serverId);
    if (f.hostname !== undefined) m.options.setText(Option.HostName, f.hostname);
    const req: IncomingRequest = { message: m, frameSrcMac: mac, port: 0, srcIp: 0 };
    const d = server.handle(req);
    assert.ok(d.kind !== 'pending');
    if (d.kind === 'reply' && d.commit) table.commit();
    return d;
  };
  /** The address of a reply of `type`, failing otherwise. */
  const answer = (d: Decision, type: MessageType): number => {
    if (d.kind !== 'reply') assert.fail(`expected ${MessageType[type]}, got ${JSON.stringify(d)}`);
    assert.equal(d.reply.options.messageType, type, d.event.detail ?? '');
    return d.reply.yiaddr;
  };
  /** DISCOVER then REQUEST (selecting) with `hostname`; the bound address. */
  const bind = (mac: string, hostname?: string): number => {
    const offered = answer(handle(MessageType.Discover, mac, hostname === undefined ? {} : { hostname }), MessageType.Offer);
    const f = { requested: offered, serverId: SERVER_IP, ...(hostname === undefined ? {} : { hostname }) };
    return answer(handle(MessageType.Request, mac, f), MessageType.Ack);
  };
  return { clock, pool, table, names, server, handle, answer, bind };
}

test('the first client sending the reserved name gets the address and the name; a second gets a pool address and no name', () => {
  const s = setUp();
  assert.equal(s.bind(A, 'Web'), RESERVED, 'the name is matched without regard to case');
  assert.equal(s.names.lookup('web')?.ip, RESERVED);
  assert.equal(s.names.lookup('web')?.mac, A);
  const second = s.bind(B, 'web');
  assert.notEqual(second, RESERVED);
  assert.ok(second >= FIRST && second <= LAST, 'the second client is served from the pool');
  assert.equal(s.table.byMac(B)?.hostname, null, 'the name stays with the first holder');
  assert.equal(s.names.lookup('web')?.mac, A);
});

test('the reservation follows the MAC: renewals with another name or none keep the address and the reserved name', () => {
  const s = setUp();
  assert.equal(s.bind(A, 'web'), RESERVED);
  s.clock.now += 100_000;
  const renewed = s.answer(s.handle(MessageType.Request, A, { ciaddr: RESERVED, hostname: 'other' }), MessageType.Ack);
  assert.equal(renewed, RESERVED);
  assert.equal(s.table.byMac(A)?.hostname, 'web', 'the address carries the reserved name');
  // A DISCOVER without a name (a reboot) gets the address back while the lease lasts.
  assert.equal(s.answer(s.handle(MessageType.Discover, A), MessageType.Offer), RESERVED);
  // Another MAC asking for it by option 50, or renewing it, is refused.
  s.answer(s.handle(MessageType.Request, B, { requested: RESERVED }), MessageType.Nak);
  s.answer(s.handle(MessageType.Request, B, { requested: RESERVED, hostname: 'web' }), MessageType.Nak);
});

test('when the holder lets the lease go, the next client sending the name gets the address', () => {
  const s = setUp();
  assert.equal(s.bind(A, 'web'), RESERVED);
  const poolAddress = s.bind(B, 'web');
  s.handle(MessageType.Release, A, { ciaddr: RESERVED });
  assert.equal(s.names.lookup('web'), undefined, 'nobody holds the name now');
  // B renewing its pool address while the reserved one is free is NAKed (dnsmasq: "static lease available")...
  s.answer(s.handle(MessageType.Request, B, { ciaddr: poolAddress, hostname: 'web' }), MessageType.Nak);
  // ... and its DISCOVER is offered the reserved address.
  assert.equal(s.bind(B, 'web'), RESERVED);
  assert.equal(s.names.lookup('web')?.mac, B);
  // A, without the name, is an ordinary pool client now.
  assert.notEqual(s.bind(A), RESERVED);
});

test('an offer of the reserved address to one client keeps it from another sending the name', () => {
  const s = setUp();
  assert.equal(s.answer(s.handle(MessageType.Discover, A, { hostname: 'web' }), MessageType.Offer), RESERVED);
  assert.notEqual(s.answer(s.handle(MessageType.Discover, B, { hostname: 'web' }), MessageType.Offer), RESERVED);
});

test('a client offered a pool address while the reserved one was held gets the reserved one later; the pool address goes back', () => {
  const s = setUp();
  assert.equal(s.bind(A, 'web'), RESERVED);
  const offered = s.answer(s.handle(MessageType.Discover, B, { hostname: 'web' }), MessageType.Offer);
  assert.notEqual(offered, RESERVED);
  assert.equal(s.pool.isFree(offered), false, 'held for the offer');
  s.handle(MessageType.Release, A, { ciaddr: RESERVED });
  assert.equal(s.answer(s.handle(MessageType.Discover, B, { hostname: 'web' }), MessageType.Offer), RESERVED);
  assert.equal(s.pool.isFree(offered), true, 'the earlier offer is withdrawn and its address free again');
});

test('a name-reserved address is never handed out from the pool, nor to a client asking for it by option 50', () => {
  const s = setUp([{ name: 'web', ip: IN_RANGE }]);
  assert.equal(s.pool.isFree(IN_RANGE), false, 'excluded from the pool');
  const given = new Set<number>();
  for (let n = 1; n <= 3; n++) given.add(s.bind(`00:16:3e:00:01:0${n}`));
  assert.equal(given.has(IN_RANGE), false);
  assert.equal(given.size, 3);
  s.answer(s.handle(MessageType.Request, '00:16:3e:00:01:09', { requested: IN_RANGE }), MessageType.Nak);
  // The pool (4 addresses, one reserved) is full for nameless clients, not for the name.
  assert.equal(s.handle(MessageType.Discover, '00:16:3e:00:01:08').kind, 'drop');
  assert.equal(s.bind(A, 'web'), IN_RANGE);
});

test('a reservation by name changed at SIGHUP gives the old address back to the pool', () => {
  const s = setUp([{ name: 'web', ip: IN_RANGE }]);
  s.server.setReservations([], []);
  assert.equal(s.pool.isFree(IN_RANGE), true);
  s.server.setReservations([], [{ name: 'web', ip: IN_RANGE }]);
  assert.equal(s.pool.isFree(IN_RANGE), false);
});
