/** RFC 3442 classless static routes: the --route parser, the encoder (the RFC's own table), and the 121/249 filler. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType, Option } from '../../../src/dhcp/constants.ts';
import { emptyMessage } from '../../../src/dhcp/message.ts';
import { buildReply, type NetworkSettings } from '../../../src/dhcp/reply.ts';
import { checkRoutesOnLink, encodeRoutes, MS_CLASSLESS_STATIC_ROUTE, parseRoute, routesWithDefault, type StaticRoute } from '../../../src/dhcp/routes.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (text: string): number => parseIPv4(text) as number;
const route = (dst: string, prefixLength: number, gw: string): StaticRoute => ({ destination: ip(dst), prefixLength, gateway: ip(gw) });

test('encodeRoutes: the destination descriptors of RFC 3442 §2, each followed by its router', () => {
  const gw = [10, 0, 0, 1];
  const table: [StaticRoute, number[]][] = [
    [route('0.0.0.0', 0, '10.0.0.1'), [0]],
    [route('10.0.0.0', 8, '10.0.0.1'), [8, 10]],
    [route('10.0.0.0', 24, '10.0.0.1'), [24, 10, 0, 0]],
    [route('10.17.0.0', 16, '10.0.0.1'), [16, 10, 17]],
    [route('10.27.129.0', 24, '10.0.0.1'), [24, 10, 27, 129]],
    [route('10.229.0.128', 25, '10.0.0.1'), [25, 10, 229, 0, 128]],
    [route('10.198.122.47', 32, '10.0.0.1'), [32, 10, 198, 122, 47]],
  ];
  for (const [r, descriptor] of table) {
    assert.deepEqual([...encodeRoutes([r])], [...descriptor, ...gw], `${r.prefixLength}`);
  }
  // A list is the concatenation, in order.
  assert.deepEqual([...encodeRoutes([route('192.0.2.0', 24, '10.0.0.2'), route('0.0.0.0', 0, '10.0.0.1')])], [24, 192, 0, 2, 10, 0, 0, 2, 0, 10, 0, 0, 1]);
});

test('parseRoute: CIDR,GATEWAY with host bits clear and a prefix of 0-32', () => {
  assert.deepEqual(parseRoute('192.0.2.0/24,10.0.0.2'), { ok: true, value: route('192.0.2.0', 24, '10.0.0.2') });
  assert.deepEqual(parseRoute('0.0.0.0/0,10.0.0.254'), { ok: true, value: route('0.0.0.0', 0, '10.0.0.254') });
  assert.deepEqual(parseRoute('203.0.113.7/32,10.0.0.3'), { ok: true, value: route('203.0.113.7', 32, '10.0.0.3') });
  assert.deepEqual(parseRoute('198.51.100.128/25,10.0.0.3'), { ok: true, value: route('198.51.100.128', 25, '10.0.0.3') });
  assert.deepEqual(parseRoute('10.0.0.0/8,10.0.0.3'), { ok: true, value: route('10.0.0.0', 8, '10.0.0.3') });
  const bad: [string, RegExp][] = [
    ['192.0.2.1/24,10.0.0.2', /host bits set \(did you mean 192\.0\.2\.0\/24\?\)/],
    ['198.51.100.129/25,10.0.0.3', /host bits set/],
    ['192.0.2.0/33,10.0.0.2', /prefix length 33 is not 0-32/],
    ['192.0.2.0/24', /is not CIDR,GATEWAY/],
    ['192.0.2.0,10.0.0.2', /is not CIDR,GATEWAY/],
    ['192.0.2.0/24,10.0.0.256', /is not CIDR,GATEWAY/],
    ['192.0.2.0/24,10.0.0.2,x', /is not CIDR,GATEWAY/],
    ['', /is not CIDR,GATEWAY/],
  ];
  for (const [text, why] of bad) {
    const r = parseRoute(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) {
      assert.match(r.error, why, text);
      assert.equal(r.error.includes('\n'), false);
    }
  }
});

test('checkRoutesOnLink: every gateway must be a host of the bridge subnet', () => {
  const server = ip('10.0.0.1');
  assert.equal(checkRoutesOnLink([route('192.0.2.0', 24, '10.0.0.254')], server, 24), null);
  assert.match(checkRoutesOnLink([route('192.0.2.0', 24, '10.0.1.1')], server, 24) ?? '', /outside the bridge subnet 10\.0\.0\.0\/24/);
  assert.match(checkRoutesOnLink([route('192.0.2.0', 24, '10.0.0.0')], server, 24) ?? '', /outside the bridge subnet/);
});

test('routesWithDefault: adds 0.0.0.0/0 via our router last, unless the operator routed it', () => {
  const r = route('192.0.2.0', 24, '10.0.0.2');
  assert.deepEqual(routesWithDefault([r], ip('10.0.0.1')), [r, route('0.0.0.0', 0, '10.0.0.1')]);
  const own = route('0.0.0.0', 0, '10.0.0.254');
  assert.deepEqual(routesWithDefault([r, own], ip('10.0.0.1')), [r, own]);
});

const NETWORK: NetworkSettings = {
  serverIp: ip('10.0.0.1'),
  prefixLength: 24,
  routers: [ip('10.0.0.1')],
  dnsServers: [],
  domain: '',
  mtu: 1500,
  routes: [route('192.0.2.0', 24, '10.0.0.2')],
};
const EXPECTED = [24, 192, 0, 2, 10, 0, 0, 2, 0, 10, 0, 0, 1];

function ack(network: NetworkSettings, asked: number[] | null, type: MessageType = MessageType.Ack) {
  const request = emptyMessage();
  request.op = 1;
  if (asked !== null) request.options.set(Option.ParameterRequestList, Buffer.from(asked));
  return buildReply({ request, type, yiaddr: ip('10.0.0.100'), network, leaseSeconds: 600 });
}

test('fillStaticRoutes: 121 and 249 each only when listed in option 55, with the default route included', () => {
  const both = ack(NETWORK, [Option.SubnetMask, Option.Router, Option.ClasslessStaticRoute, MS_CLASSLESS_STATIC_ROUTE]);
  assert.deepEqual([...(both.options.get(Option.ClasslessStaticRoute) ?? [])], EXPECTED);
  assert.deepEqual([...(both.options.get(MS_CLASSLESS_STATIC_ROUTE) ?? [])], EXPECTED);
  // Option 3 still goes, for clients that ignore 121.
  assert.equal(both.options.has(Option.Router), true);

  const only121 = ack(NETWORK, [Option.SubnetMask, Option.ClasslessStaticRoute]);
  assert.deepEqual([...(only121.options.get(Option.ClasslessStaticRoute) ?? [])], EXPECTED);
  assert.equal(only121.options.has(MS_CLASSLESS_STATIC_ROUTE), false);

  const only249 = ack(NETWORK, [Option.SubnetMask, MS_CLASSLESS_STATIC_ROUTE]);
  assert.equal(only249.options.has(Option.ClasslessStaticRoute), false);
  assert.deepEqual([...(only249.options.get(MS_CLASSLESS_STATIC_ROUTE) ?? [])], EXPECTED);

  const notAsked = ack(NETWORK, [Option.SubnetMask, Option.Router]);
  assert.equal(notAsked.options.has(Option.ClasslessStaticRoute), false);
  assert.equal(notAsked.options.has(MS_CLASSLESS_STATIC_ROUTE), false);
  // No request list: the client cannot have said it understands 121, which would replace its router option.
  const noList = ack(NETWORK, null);
  assert.equal(noList.options.has(Option.ClasslessStaticRoute), false);
  assert.equal(noList.options.has(Option.Router), true);
});

test('fillStaticRoutes: nothing without --route, nothing in a NAK; encoded once per network settings', () => {
  const { routes: _none, ...plain } = NETWORK;
  assert.equal(ack(plain, [Option.ClasslessStaticRoute]).options.has(Option.ClasslessStaticRoute), false);
  assert.equal(ack({ ...NETWORK, routes: [] }, [Option.ClasslessStaticRoute]).options.has(Option.ClasslessStaticRoute), false);
  assert.equal(ack(NETWORK, [Option.ClasslessStaticRoute], MessageType.Nak).options.has(Option.ClasslessStaticRoute), false);
  const a = ack(NETWORK, [Option.ClasslessStaticRoute]).options.get(Option.ClasslessStaticRoute);
  const b = ack(NETWORK, [Option.ClasslessStaticRoute]).options.get(Option.ClasslessStaticRoute);
  assert.ok(a !== undefined && a === b, 'the same buffer for every reply of one network');
  // A new settings object (e.g. after an MTU change) is encoded afresh, to the same bytes.
  const c = ack({ ...NETWORK, mtu: 1400 }, [Option.ClasslessStaticRoute]).options.get(Option.ClasslessStaticRoute);
  assert.deepEqual([...(c ?? [])], EXPECTED);
});
