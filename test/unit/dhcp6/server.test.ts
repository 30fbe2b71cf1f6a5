/**
 * Every decision of the DHCPv6 server: stateless Information-request, Solicit/Advertise/Request/Reply, rapid commit,
 * Renew/Rebind, Release/Decline, Confirm, each status code, the §16 validation drops, the cloned-DUID case (two MACs,
 * two addresses), many DUIDs behind one MAC (perfdhcp -6: one address each), no reaching another MAC's binding with
 * its DUID, and what happens to names from the Client FQDN option.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allOptions, type Dhcp6Message, findOption, parseDhcp6Message } from '../../../src/dhcp6/message.ts';
import { decodeDomainName, decodeIaNa, decodeStatus, type IaNa } from '../../../src/dhcp6/options.ts';
import type { Dhcp6Decision } from '../../../src/dhcp6/server.ts';
import { IPV6_MIN_PAYLOAD, MAX_IA_PER_MESSAGE, MessageType, Option6, StatusCode } from '../../../src/dhcp6/vocabulary.ts';
import { formatIPv6, ipv6FromBytes } from '../../../src/leases/ipv6-number.ts';
import { unclaimableNames } from '../../../src/leases/names.ts';
import { BRIDGE, clientMessage, DUID_A, MAC_A, MAC_B, own, replyOf, SERVER_DUID, stateful, stateless, wire } from './fixture.ts';

interface Read {
  message: Dhcp6Message;
  status: number | null;
  ias: IaNa[];
  addresses: string[];
}

function read(d: Dhcp6Decision): Read {
  const r = parseDhcp6Message(replyOf(d).payload);
  if (!r.ok) throw new Error(r.detail);
  const statusBytes = findOption(r.message.options, Option6.StatusCode);
  const ias = allOptions(r.message.options, Option6.IaNa).map((v) => {
    const ia = decodeIaNa(v);
    if (!ia.ok) throw new Error(ia.detail);
    return ia.ia;
  });
  const addresses = ias.flatMap((ia) => ia.addresses.filter((a) => a.valid > 0).map((a) => formatIPv6(ipv6FromBytes(a.address) as bigint)));
  return { message: r.message, status: statusBytes ? (decodeStatus(statusBytes)?.code ?? null) : null, ias, addresses };
}

const drop = (d: Dhcp6Decision): string => (d.kind === 'drop' ? d.reason : `not a drop: ${d.kind}`);

test('stateless: Information-request gets DNS server (the bridge), domain list and refresh time', () => {
  const server = stateless();
  const d = server.handle(clientMessage({ type: MessageType.InformationRequest, oro: [23, 24, 32] }), wire(MAC_A));
  const r = replyOf(d);
  assert.equal(r.commit, false);
  assert.deepEqual(r.destination, { mac: MAC_A, ip: 'fe80::0a', port: 546 });
  const m = read(d).message;
  assert.equal(m.type, MessageType.Reply);
  assert.equal(m.transactionId, 0x123456);
  assert.deepEqual(findOption(m.options, Option6.ServerId), SERVER_DUID);
  assert.deepEqual(findOption(m.options, Option6.ClientId), DUID_A);
  assert.equal(formatIPv6(ipv6FromBytes(findOption(m.options, Option6.DnsServers) as Buffer) as bigint), 'fd42:1:2:3::1');
  assert.deepEqual(decodeDomainName(findOption(m.options, Option6.DomainList) as Buffer), ['lxc']);
  assert.equal((findOption(m.options, Option6.InformationRefreshTime) as Buffer).readUInt32BE(0), 86_400);
  // Without option 32 in the ORO, no refresh time; without a Client ID (allowed here), none echoed.
  const plain = read(server.handle(clientMessage({ type: MessageType.InformationRequest, clientId: null }), wire(MAC_A))).message;
  assert.equal(findOption(plain.options, Option6.InformationRefreshTime), undefined);
  assert.equal(findOption(plain.options, Option6.ClientId), undefined);
});

test('stateless: a Solicit gets an Advertise with NoAddrsAvail (and the DNS configuration)', () => {
  const d = stateless().handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }] }), wire(MAC_A));
  const r = read(d);
  assert.equal(r.message.type, MessageType.Advertise);
  assert.equal(r.status, StatusCode.NoAddrsAvail);
  assert.equal(r.ias.length, 0);
  assert.ok(findOption(r.message.options, Option6.DnsServers));
  assert.equal(replyOf(d).commit, false);
});

test('stateless: Request gets NoAddrsAvail in the IA, Renew gets NoBinding', () => {
  const server = stateless();
  const req = read(server.handle(clientMessage({ type: MessageType.Request, serverId: SERVER_DUID, ias: [{ iaid: 1 }] }), wire(MAC_A)));
  assert.equal(req.ias[0]?.status?.code, StatusCode.NoAddrsAvail);
  const renew = read(server.handle(clientMessage({ type: MessageType.Renew, serverId: SERVER_DUID, ias: [{ iaid: 1 }] }), wire(MAC_A)));
  assert.equal(renew.ias[0]?.status?.code, StatusCode.NoBinding);
});

test('Solicit → Advertise of a range address (preference 255, lifetimes, T1/T2), nothing staged', () => {
  const f = stateful();
  const d = f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 7 }] }), wire(MAC_A));
  const r = read(d);
  assert.equal(r.message.type, MessageType.Advertise);
  assert.equal(replyOf(d).commit, false);
  assert.equal(f.store.staged.size, 0);
  assert.equal((findOption(r.message.options, Option6.Preference) as Buffer)[0], 255);
  const ia = r.ias[0] as IaNa;
  assert.deepEqual([ia.iaid, ia.t1, ia.t2, ia.addresses[0]?.preferred, ia.addresses[0]?.valid], [7, 1800, 2880, 3600, 3600]);
  assert.ok(f.book.inRange(r.addresses[0] as string));
});

test('Solicit, Request: the Reply binds the advertised address and asks for a commit', () => {
  const f = stateful();
  const adv = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 7 }] }), wire(MAC_A)));
  const d = f.server.handle(clientMessage({ type: MessageType.Request, serverId: SERVER_DUID, ias: [{ iaid: 7 }], fqdn: 'web1.example' }), wire(MAC_A));
  const r = read(d);
  assert.equal(r.message.type, MessageType.Reply);
  assert.deepEqual(r.addresses, adv.addresses);
  assert.equal(replyOf(d).commit, true);
  assert.equal(f.store.staged.get(r.addresses[0] as string)?.mac, MAC_A);
  const event = replyOf(d).events[0];
  assert.equal(event?.type, 'BIND');
  assert.equal(event?.hostname, 'web1');
  assert.equal(event?.expiresAt, f.clock.now + 3_600_000);
  // RFC 4704: the answer names web1.lxc with S set (we update the zone).
  const fqdn = findOption(r.message.options, Option6.ClientFqdn) as Buffer;
  assert.equal(fqdn[0], 0x3);
  assert.deepEqual(decodeDomainName(fqdn.subarray(1)), ['web1', 'lxc']);
});

test('a Request for an address off our /64 gets NotOnLink in that IA and binds nothing for it', () => {
  const f = stateful();
  const d = f.server.handle(
    clientMessage({ type: MessageType.Request, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: ['2001:db8::9'] }, { iaid: 2 }] }),
    wire(MAC_A),
  );
  const r = read(d);
  assert.equal(r.ias.find((ia) => ia.iaid === 1)?.status?.code, StatusCode.NotOnLink);
  assert.equal(r.ias.find((ia) => ia.iaid === 2)?.addresses.length, 1);
  assert.equal(f.book.bindingOf(own(MAC_A, 1)), undefined);
});

test('rapid commit: a Solicit with option 14 gets a committed Reply; off, it gets an Advertise', () => {
  const on = stateful();
  const d = on.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A));
  const r = read(d);
  assert.equal(r.message.type, MessageType.Reply);
  assert.notEqual(findOption(r.message.options, Option6.RapidCommit), undefined);
  assert.equal(replyOf(d).commit, true);
  assert.equal(on.store.staged.size, 1);
  const off = stateful({ rapidCommit: false });
  const a = read(off.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A)));
  assert.equal(a.message.type, MessageType.Advertise);
  assert.equal(findOption(a.message.options, Option6.RapidCommit), undefined);
});

test('two cloned containers with one DUID and two MACs get two addresses', () => {
  const f = stateful();
  const spec = { type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true, clientId: DUID_A };
  const a = read(f.server.handle(clientMessage(spec), wire(MAC_A)));
  const b = read(f.server.handle(clientMessage(spec), wire(MAC_B)));
  assert.equal(a.addresses.length, 1);
  assert.equal(b.addresses.length, 1);
  assert.notEqual(a.addresses[0], b.addresses[0]);
  assert.equal(f.book.bindingOf(own(MAC_A, 1))?.ip, a.addresses[0]);
  assert.equal(f.book.bindingOf(own(MAC_B, 1))?.ip, b.addresses[0]);
});

test('NoAddrsAvail when the range is exhausted: top level in the Advertise, in the IA of a Reply', () => {
  const f = stateful({}, { first: 'fd42:1:2:3::10', last: 'fd42:1:2:3::10' });
  read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A)));
  const adv = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }] }), wire(MAC_B)));
  assert.equal(adv.message.type, MessageType.Advertise);
  assert.equal(adv.status, StatusCode.NoAddrsAvail);
  const req = read(f.server.handle(clientMessage({ type: MessageType.Request, serverId: SERVER_DUID, ias: [{ iaid: 1 }] }), wire(MAC_B)));
  assert.equal(req.ias[0]?.status?.code, StatusCode.NoAddrsAvail);
  assert.deepEqual(req.addresses, []);
});

test('takeNewAddress is asked once per new IA only: retransmitted Solicits and the Request take nothing more', () => {
  const asked: (number | undefined)[] = [];
  let allow = true;
  const f = stateful({
    takeNewAddress: (w) => {
      asked.push(w.port);
      return allow;
    },
  });
  const on = (mac: string) => ({ ...wire(mac), port: 7 });
  read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }] }), on(MAC_A)));
  read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }] }), on(MAC_A)));
  const bound = read(f.server.handle(clientMessage({ type: MessageType.Request, serverId: SERVER_DUID, ias: [{ iaid: 1 }] }), on(MAC_A)));
  assert.equal(bound.addresses.length, 1);
  assert.deepEqual(asked, [7]);
  allow = false;
  const refused = f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), on(MAC_B));
  assert.equal(read(refused).status, StatusCode.NoAddrsAvail);
  assert.equal(f.book.bindingOf(own(MAC_B, 1)), undefined);
  assert.equal(replyOf(refused).events[0]?.detail, 'new-address-limit');
  // A renewal needs no new share.
  assert.equal(read(f.server.handle(clientMessage({ type: MessageType.Renew, serverId: SERVER_DUID, ias: [{ iaid: 1 }] }), on(MAC_A))).addresses.length, 1);
});

test('Renew extends a binding; addresses that are not its binding come back with lifetimes 0', () => {
  const f = stateful();
  const bound = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A)));
  f.store.commit();
  f.clock.now += 1_000_000;
  const d = f.server.handle(
    clientMessage({ type: MessageType.Renew, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: [bound.addresses[0] as string, 'fd42:1:2:3::999'] }] }),
    wire(MAC_A),
  );
  const r = read(d);
  assert.equal(replyOf(d).commit, true);
  assert.deepEqual(r.addresses, bound.addresses);
  const stale = r.ias[0]?.addresses.find((a) => a.valid === 0);
  assert.equal(formatIPv6(ipv6FromBytes(stale?.address as Buffer) as bigint), 'fd42:1:2:3::999');
  assert.equal(f.book.bindingOf(own(MAC_A, 1))?.expiresAt, f.clock.now + 3_600_000);
  assert.equal(replyOf(d).events[0]?.type, 'RENEW');
});

test('Renew of an unknown binding gets NoBinding and stages nothing', () => {
  const f = stateful();
  const d = f.server.handle(clientMessage({ type: MessageType.Renew, serverId: SERVER_DUID, ias: [{ iaid: 9, addresses: ['fd42:1:2:3::150'] }] }), wire(MAC_A));
  const r = read(d);
  assert.equal(r.ias[0]?.status?.code, StatusCode.NoBinding);
  assert.equal(replyOf(d).commit, false);
  assert.equal(f.store.staged.size, 0);
});

test('Renew, Release and Decline from another MAC with the same DUID and IAID get NoBinding and leave the binding be', () => {
  const f = stateful();
  const bound = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A)));
  f.store.commit();
  const ip = bound.addresses[0] as string;
  for (const type of [MessageType.Renew, MessageType.Release, MessageType.Decline]) {
    const d = f.server.handle(clientMessage({ type, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: [ip] }] }), wire(MAC_B));
    assert.equal(read(d).ias[0]?.status?.code, StatusCode.NoBinding, `message type ${type}`);
    assert.equal(replyOf(d).commit, false);
  }
  assert.equal(f.store.staged.size, 0);
  assert.equal(f.book.bindingOf(own(MAC_A, 1))?.ip, ip);
  assert.equal(f.book.bindingOf(own(MAC_A, 1))?.state, 'bound');
});

test('perfdhcp -6: clients told apart only by their DUID-LL, from one MAC, get one address each', () => {
  const f = stateful();
  const duid = (i: number) => Buffer.from(`00030001${(0x021ab0000100 + i).toString(16).padStart(12, '0')}`, 'hex');
  const addresses = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const r = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true, clientId: duid(i) }), wire(MAC_A)));
    assert.equal(r.addresses.length, 1, `client ${i}`);
    addresses.add(r.addresses[0] as string);
  }
  assert.equal(addresses.size, 20);
  assert.equal(f.book.refusals['client-limit'], 0);
  // Each renews its own binding, and one cannot release another's.
  const renew = read(f.server.handle(clientMessage({ type: MessageType.Renew, serverId: SERVER_DUID, ias: [{ iaid: 1 }], clientId: duid(3) }), wire(MAC_A)));
  assert.deepEqual(renew.addresses, [f.book.bindingOf(own(MAC_A, 1, duid(3)))?.ip]);
  const theirs = f.book.bindingOf(own(MAC_A, 1, duid(4)))?.ip as string;
  const release = read(
    f.server.handle(
      clientMessage({ type: MessageType.Release, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: [theirs] }], clientId: duid(3) }),
      wire(MAC_A),
    ),
  );
  assert.equal(release.ias[0]?.status?.code, StatusCode.NoBinding);
  assert.equal(f.book.bindingOf(own(MAC_A, 1, duid(4)))?.ip, theirs);
});

test('Rebind: extends a known binding; unknown off-link addresses get lifetimes 0; unknown on-link: NoBinding', () => {
  const f = stateful();
  const bound = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A)));
  const known = read(f.server.handle(clientMessage({ type: MessageType.Rebind, ias: [{ iaid: 1 }] }), wire(MAC_A)));
  assert.deepEqual(known.addresses, bound.addresses);
  const off = read(f.server.handle(clientMessage({ type: MessageType.Rebind, ias: [{ iaid: 2, addresses: ['2001:db8::5'] }] }), wire(MAC_A)));
  assert.equal(off.ias[0]?.addresses[0]?.valid, 0);
  assert.equal(off.ias[0]?.status, null);
  const on = read(f.server.handle(clientMessage({ type: MessageType.Rebind, ias: [{ iaid: 3, addresses: ['fd42:1:2:3::1ab'] }] }), wire(MAC_A)));
  assert.equal(on.ias[0]?.status?.code, StatusCode.NoBinding);
});

test('Release ends the binding (staged delete, Success); releasing what it does not hold gets NoBinding', () => {
  const f = stateful();
  const bound = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A)));
  f.store.commit();
  const ip = bound.addresses[0] as string;
  const d = f.server.handle(clientMessage({ type: MessageType.Release, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: [ip] }] }), wire(MAC_A));
  const r = read(d);
  assert.equal(r.status, StatusCode.Success);
  assert.equal(r.ias.length, 0);
  assert.equal(replyOf(d).commit, true);
  assert.equal(f.store.staged.get(ip), null);
  assert.equal(f.book.bindingOf(own(MAC_A, 1)), undefined);
  assert.equal(replyOf(d).events[0]?.type, 'RELEASE');
  const again = read(f.server.handle(clientMessage({ type: MessageType.Release, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: [ip] }] }), wire(MAC_A)));
  assert.equal(again.status, StatusCode.Success);
  assert.equal(again.ias[0]?.status?.code, StatusCode.NoBinding);
});

test('Decline puts the address on probation: nobody gets it until the probation ends', () => {
  const f = stateful({}, { first: 'fd42:1:2:3::10', last: 'fd42:1:2:3::10' });
  const bound = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true }), wire(MAC_A)));
  const ip = bound.addresses[0] as string;
  const d = f.server.handle(clientMessage({ type: MessageType.Decline, serverId: SERVER_DUID, ias: [{ iaid: 1, addresses: [ip] }] }), wire(MAC_A));
  assert.equal(read(d).status, StatusCode.Success);
  assert.equal(replyOf(d).commit, true);
  assert.equal(f.store.staged.get(ip)?.state, 'declined');
  const other = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }] }), wire(MAC_B)));
  assert.equal(other.status, StatusCode.NoAddrsAvail);
  f.clock.now += 86_400_000;
  assert.deepEqual(f.server.tick(), []); // the probation ended: no owner, no event
  assert.equal(f.store.staged.get(ip), null);
  assert.deepEqual(read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }] }), wire(MAC_B))).addresses, [ip]);
});

test('Confirm: Success on our /64, NotOnLink off it, no reply without addresses', () => {
  const f = stateful();
  const ok = read(f.server.handle(clientMessage({ type: MessageType.Confirm, ias: [{ iaid: 1, addresses: ['fd42:1:2:3::77'] }] }), wire(MAC_A)));
  assert.equal(ok.status, StatusCode.Success);
  const off = read(
    f.server.handle(clientMessage({ type: MessageType.Confirm, ias: [{ iaid: 1, addresses: ['fd42:1:2:3::77', 'fd42:1:2:4::1'] }] }), wire(MAC_A)),
  );
  assert.equal(off.status, StatusCode.NotOnLink);
  assert.equal(f.server.handle(clientMessage({ type: MessageType.Confirm, ias: [{ iaid: 1 }] }), wire(MAC_A)).kind, 'silent');
});

test('§16 validation drops, each with its reason', () => {
  const f = stateful();
  const other = Buffer.from('00030001020000000099', 'hex');
  const cases: [string, Buffer, boolean?][] = [
    ['missing-client-id', clientMessage({ type: MessageType.Solicit, clientId: null, ias: [{ iaid: 1 }] })],
    ['unexpected-server-id', clientMessage({ type: MessageType.Solicit, serverId: SERVER_DUID })],
    ['missing-server-id', clientMessage({ type: MessageType.Request, ias: [{ iaid: 1 }] })],
    ['not-for-us', clientMessage({ type: MessageType.Request, serverId: other, ias: [{ iaid: 1 }] })],
    ['not-for-us', clientMessage({ type: MessageType.Renew, serverId: other })],
    ['missing-server-id', clientMessage({ type: MessageType.Release })],
    ['missing-server-id', clientMessage({ type: MessageType.Decline })],
    ['unexpected-server-id', clientMessage({ type: MessageType.Rebind, serverId: SERVER_DUID })],
    ['unexpected-server-id', clientMessage({ type: MessageType.Confirm, serverId: SERVER_DUID })],
    ['not-for-us', clientMessage({ type: MessageType.InformationRequest, serverId: other })],
    ['ia-in-information-request', clientMessage({ type: MessageType.InformationRequest, ias: [{ iaid: 1 }] })],
    ['not-a-client-message', clientMessage({ type: MessageType.Advertise })],
    ['not-a-client-message', clientMessage({ type: MessageType.Reply })],
    ['bad-client-id', clientMessage({ type: MessageType.Solicit, clientId: Buffer.from([0, 1]) })],
    ['duplicate-identifier', clientMessage({ type: MessageType.Solicit, extra: [{ code: Option6.ClientId, value: DUID_A }] })],
    ['bad-ia-na', clientMessage({ type: MessageType.Solicit, extra: [{ code: Option6.IaNa, value: Buffer.alloc(5) }] })],
    ['bad-oro', clientMessage({ type: MessageType.Solicit, extra: [{ code: Option6.Oro, value: Buffer.alloc(3) }] })],
    ['unicast-not-allowed', clientMessage({ type: MessageType.Solicit }), false],
    ['unicast-not-allowed', clientMessage({ type: MessageType.InformationRequest }), false],
    ['relay-message', Buffer.from([12, 0, ...Buffer.alloc(32)])],
    ['short-message', Buffer.from([1, 0])],
  ];
  for (const [reason, bytes, multicast] of cases) assert.equal(drop(f.server.handle(bytes, wire(MAC_A, multicast ?? true))), reason, reason);
  assert.equal(f.store.staged.size, 0);
});

test('a Request sent by unicast gets UseMulticast and binds nothing', () => {
  const f = stateful();
  const d = f.server.handle(clientMessage({ type: MessageType.Request, serverId: SERVER_DUID, ias: [{ iaid: 1 }] }), wire(MAC_A, false));
  const r = read(d);
  assert.equal(r.status, StatusCode.UseMulticast);
  assert.equal(r.ias.length, 0);
  assert.equal(f.store.staged.size, 0);
});

test('names: the FQDN goes through the hostname rules; unclaimable and taken names give none', () => {
  const f = stateful({ unclaimableNames: unclaimableNames('lxc'), nameHeldByOther: (name, mac) => name === 'db' && mac !== MAC_B });
  const bind = (fqdn: string, mac = MAC_A, iaid = 1) =>
    replyOf(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid }], rapidCommit: true, fqdn }), wire(mac))).events[0]?.hostname;
  assert.equal(bind('Web_Server\n.evil', MAC_A, 1), 'web-server');
  assert.equal(bind('wpad', MAC_A, 2), null);
  assert.equal(bind('db', MAC_A, 3), null);
  assert.equal(bind('db', MAC_B, 1), 'db');
  assert.equal(bind('-\u00ff-', MAC_B, 2), null);
});

test('tick: a binding past its valid lifetime ends with an EXPIRE event carrying its name', () => {
  const f = stateful();
  const bound = read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true, fqdn: 'gone' }), wire(MAC_A)));
  f.clock.now += 3_599_000;
  assert.deepEqual(f.server.tick(), []);
  f.clock.now += 1_000;
  const events = f.server.tick();
  assert.deepEqual(
    events.map((e) => [e.type, e.mac, e.ip, e.hostname]),
    [['EXPIRE', MAC_A, bound.addresses[0], 'gone']],
  );
  assert.equal(f.store.staged.get(bound.addresses[0] as string), null);
});

test("a Renew without a Client FQDN keeps the binding's name; one with a new name changes it", () => {
  const f = stateful();
  read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid: 1 }], rapidCommit: true, fqdn: 'alpha' }), wire(MAC_A)));
  const renew = (fqdn?: string) =>
    replyOf(f.server.handle(clientMessage({ type: MessageType.Renew, serverId: SERVER_DUID, ias: [{ iaid: 1 }], ...(fqdn ? { fqdn } : {}) }), wire(MAC_A)))
      .events[0]?.hostname;
  assert.equal(renew(), 'alpha');
  assert.equal(renew('beta'), 'beta');
});

test('the real dhclient Solicit gets an Advertise for its IAID', () => {
  const f = stateful();
  const solicit = Buffer.from(
    '01ce725e0001000e0001000132a98e04021ab00000070006000400170018000800020000002700070004626f7837000003000cb000000700000e1000001518',
    'hex',
  );
  const r = read(f.server.handle(solicit, wire('02:1a:b0:00:00:07')));
  assert.equal(r.message.type, MessageType.Advertise);
  assert.equal(r.message.transactionId, 0xce725e);
  assert.equal(r.ias[0]?.iaid, 2952790023);
  assert.equal(r.addresses.length, 1);
});

test('a Renew of many IAs each listing many addresses gets a reply within the IPv6 minimum payload', () => {
  const f = stateful();
  for (let iaid = 0; iaid < 4; iaid++) read(f.server.handle(clientMessage({ type: MessageType.Solicit, ias: [{ iaid }], rapidCommit: true }), wire(MAC_A)));
  const many = Array.from({ length: 15 }, (_, i) => `fd42:1:2:3::f${i.toString(16)}`);
  const ias = Array.from({ length: 40 }, (_, iaid) => ({ iaid, addresses: many }));
  const huge = clientMessage({
    type: MessageType.Renew,
    serverId: SERVER_DUID,
    ias,
    clientId: Buffer.concat([Buffer.from('0002', 'hex'), Buffer.alloc(128, 1)]),
  });
  const d = f.server.handle(huge, wire(MAC_A));
  const r = read(d);
  assert.equal(r.ias.length, MAX_IA_PER_MESSAGE);
  assert.ok(replyOf(d).payload.length <= IPV6_MIN_PAYLOAD, `${replyOf(d).payload.length} bytes`);
});

test('the DNS server announced defaults to the bridge address and can be set', () => {
  const f = stateful({ dnsServers: ['fd42:1:2:3::53', BRIDGE] });
  const m = read(f.server.handle(clientMessage({ type: MessageType.InformationRequest }), wire(MAC_A))).message;
  assert.equal((findOption(m.options, Option6.DnsServers) as Buffer).length, 32);
});
