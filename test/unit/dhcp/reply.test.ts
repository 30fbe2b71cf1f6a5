import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { emptyMessage } from '../../../src/dhcp/message.ts';
import { buildReply, type NetworkSettings, replySizeLimit } from '../../../src/dhcp/reply.ts';

const NETWORK: NetworkSettings = {
  serverIp: 0x0a000001,
  prefixLength: 24,
  routers: [],
  dnsServers: [],
  domain: '',
  mtu: 1500,
};

test('replySizeLimit: option 57 bounded by the MTU, never under the RFC 2131 minimum', () => {
  const m = emptyMessage();
  assert.equal(replySizeLimit(m, 1500), 576 - 28);
  m.options.setUint16(Option.MaxMessageSize, 1472);
  assert.equal(replySizeLimit(m, 1500), 1472 - 28);
  m.options.setUint16(Option.MaxMessageSize, 9000);
  assert.equal(replySizeLimit(m, 1500), 1500 - 28);
  m.options.setUint16(Option.MaxMessageSize, 100);
  assert.equal(replySizeLimit(m, 1500), 576 - 28);
});

test('buildReply leaves out options with nothing to say, and configuration from a NAK', () => {
  const request = emptyMessage();
  request.op = 1;
  request.xid = 42;
  request.options.set(Option.RelayAgentInformation, Buffer.from([1, 2, 0x61, 0x62]));
  const offer = buildReply({ request, type: MessageType.Offer, yiaddr: 0x0a000064, network: NETWORK, leaseSeconds: 600 });
  assert.equal(offer.xid, 42);
  assert.equal(offer.options.has(Option.Router), false);
  assert.equal(offer.options.has(Option.DomainNameServer), false);
  assert.equal(offer.options.has(Option.DomainName), false);
  assert.equal(offer.options.has(Option.DomainSearch), false);
  // Option 82 only goes back to a relay.
  assert.equal(offer.options.has(Option.RelayAgentInformation), false);
  request.giaddr = 0x0a000002;
  const relayed = buildReply({ request, type: MessageType.Offer, yiaddr: 0x0a000064, network: NETWORK, leaseSeconds: 600 });
  assert.deepEqual(relayed.options.get(Option.RelayAgentInformation), Buffer.from([1, 2, 0x61, 0x62]));
  const nak = buildReply({ request, type: MessageType.Nak, yiaddr: 0x0a000064, network: NETWORK, leaseSeconds: 600, nakMessage: 'no' });
  assert.equal(nak.yiaddr, 0);
  assert.deepEqual(
    nak.options.codes().filter((c) => c !== Option.RelayAgentInformation),
    [53, 54, 56],
  );
  assert.equal(nak.options.getText(Option.Message), 'no');
});

test('a client that lists the options it wants (55) gets those plus the ones every lease needs; no list gets all', () => {
  const network: NetworkSettings = { serverIp: 0x0a000001, prefixLength: 8, routers: [0x0a000001], dnsServers: [0x0a000001], domain: 'lxc', mtu: 1500 };
  const request = emptyMessage();
  request.op = 1;
  request.options.set(Option.ClientIdentifier, Buffer.from([1, 2, 0xaa, 0, 0, 0, 0, 1]));
  const all = buildReply({ request, type: MessageType.Offer, yiaddr: 0x0a000064, network, leaseSeconds: 600 });
  assert.deepEqual(
    all.options.codes().sort((a, b) => a - b),
    [1, 3, 6, 15, 26, 28, 51, 53, 54, 58, 59, 61, 119],
  );
  // perfdhcp's list: mask, broadcast, time offset, router, domain name, DNS, host name
  request.options.set(Option.ParameterRequestList, Buffer.from([1, 28, 2, 3, 15, 6, 12]));
  const asked = buildReply({ request, type: MessageType.Offer, yiaddr: 0x0a000064, network, leaseSeconds: 600 });
  assert.deepEqual(
    asked.options.codes().sort((a, b) => a - b),
    [1, 3, 6, 15, 28, 51, 53, 54, 58, 59, 61],
  );
  // A list without the router still gets it: a container without a default route is broken.
  request.options.set(Option.ParameterRequestList, Buffer.from([6]));
  const few = buildReply({ request, type: MessageType.Ack, yiaddr: 0x0a000064, network, leaseSeconds: 600, rapidCommit: true });
  assert.deepEqual(
    few.options.codes().sort((a, b) => a - b),
    [1, 3, 6, 51, 53, 54, 58, 59, 61, 80],
  );
});
