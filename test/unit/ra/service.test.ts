import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, RateLimitedCounter } from '../../../src/log.ts';
import { parseIPv6 } from '../../../src/net/address6.ts';
import { MAX_INITIAL_RTR_ADVERT_INTERVAL_MS } from '../../../src/ra/schedule.ts';
import { FINAL_PREFIX_VALID_LIFETIME_S, LINK_LOCAL_RETRY_MS, type RaConfig, RaService, ROUTER_LIFETIME_S } from '../../../src/ra/service.ts';
import { buildIcmpv6Frame, type Icmpv6Packet, icmpv6ChecksumOk, parseIpv6Frame } from '../../../src/wire/frame6.ts';

const addr = (text: string): Buffer => parseIPv6(text) ?? assert.fail(text);
const BRIDGE_MAC = '02:1a:b0:00:00:01';
const BRIDGE_LL = addr('fe80::1a:b0ff:fe00:1');
const HOST_MAC = '02:1a:b0:00:00:05';
const HOST_LL = addr('fe80::1a:b0ff:fe00:5');
const config: RaConfig = { prefix: addr('fd00:db8:1::1'), mtu: 1500, dnsServers: [addr('fd00:db8:1::1')], domains: ['lxc'], mode: 'stateless' };

/** A service on a fake clock, fake timers and a capturing send. */
function fixture(opts: { linkLocal?: Buffer | null } = {}) {
  const clock = { t: 0 };
  const timers: { at: number; callback: () => void; id: number }[] = [];
  let nextId = 1;
  const sent: Buffer[] = [];
  const drops: string[] = [];
  const state = { linkLocal: opts.linkLocal === undefined ? BRIDGE_LL : opts.linkLocal };
  const service = new RaService({
    config,
    mac: () => BRIDGE_MAC,
    linkLocal: () => state.linkLocal,
    send: (frame) => {
      sent.push(frame);
      return true;
    },
    log: createLogger('error', () => undefined),
    drops: new RateLimitedCounter(),
    onDrop: (reason) => drops.push(reason),
    now: () => clock.t,
    random: () => 0.5,
    timers: {
      set: (callback, ms) => {
        const id = nextId++;
        timers.push({ at: clock.t + ms, callback, id });
        return id;
      },
      clear: (id) => {
        const i = timers.findIndex((t) => t.id === id);
        if (i >= 0) timers.splice(i, 1);
      },
    },
  });
  /** Moves the clock to `t`, firing due timers in order. */
  const advance = (to: number): void => {
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const first = timers[0];
      if (!first || first.at > to) break;
      timers.shift();
      clock.t = first.at;
      first.callback();
    }
    clock.t = to;
  };
  return { service, sent, drops, timers, clock, advance, state };
}

function rs(src: Buffer, options: Buffer = Buffer.alloc(0)): Icmpv6Packet {
  const frame = buildIcmpv6Frame(
    { srcMac: HOST_MAC, dstMac: '33:33:00:00:00:02', src, dst: addr('ff02::2'), hopLimit: 255 },
    Buffer.concat([Buffer.from([133, 0, 0, 0, 0, 0, 0, 0]), options]),
  );
  const parsed = parseIpv6Frame(frame);
  assert.ok(parsed.ok && parsed.packet.nextHeader === 58);
  return parsed.packet;
}

function ra(frame: Buffer | undefined) {
  assert.ok(frame, 'a frame was sent');
  assert.ok(icmpv6ChecksumOk(frame), 'checksum');
  const parsed = parseIpv6Frame(frame);
  assert.ok(parsed.ok && parsed.packet.nextHeader === 58);
  assert.equal(parsed.packet.message[0], 134);
  assert.equal(parsed.packet.hopLimit, 255);
  assert.deepEqual(parsed.packet.src, BRIDGE_LL);
  assert.equal(parsed.packet.srcMac, BRIDGE_MAC);
  const m = parsed.packet.message;
  // the prefix option follows the header (16), the source link-layer option (8) and the MTU option (8)
  return {
    packet: parsed.packet,
    routerLifetime: m.readUInt16BE(6),
    preferred: m.readUInt32BE(32 + 8),
    valid: m.readUInt32BE(32 + 4),
    dnsLifetime: m.readUInt32BE(64 + 4),
  };
}

test('start() sends an unsolicited RA to all-nodes at once, then the next ones 16 s apart', () => {
  const { service, sent, advance } = fixture();
  service.start();
  assert.equal(sent.length, 1);
  const first = ra(sent[0]);
  assert.equal(first.packet.dstMac, '33:33:00:00:00:01');
  assert.deepEqual(first.packet.dst, addr('ff02::1'));
  assert.equal(first.routerLifetime, ROUTER_LIFETIME_S);
  advance(MAX_INITIAL_RTR_ADVERT_INTERVAL_MS - 1);
  assert.equal(sent.length, 1);
  advance(MAX_INITIAL_RTR_ADVERT_INTERVAL_MS);
  assert.equal(sent.length, 2);
  advance(2 * MAX_INITIAL_RTR_ADVERT_INTERVAL_MS);
  assert.equal(sent.length, 3);
  advance(2 * MAX_INITIAL_RTR_ADVERT_INTERVAL_MS + 399_999);
  assert.equal(sent.length, 3, 'then 200 + 0.5 * 400 s');
  advance(2 * MAX_INITIAL_RTR_ADVERT_INTERVAL_MS + 400_000);
  assert.equal(sent.length, 4);
  assert.equal(service.counters.sentUnsolicited, 4);
  service.close();
});

test('without a link-local address nothing is sent; the RA is retried every second until there is one', () => {
  const { service, sent, advance, state, drops } = fixture({ linkLocal: null });
  service.start();
  assert.equal(sent.length, 0);
  advance(5 * LINK_LOCAL_RETRY_MS);
  assert.equal(sent.length, 0);
  service.handleSolicitation(rs(HOST_LL), { srcMac: HOST_MAC });
  assert.equal(sent.length, 0);
  assert.deepEqual(drops, ['no-link-local']);
  state.linkLocal = BRIDGE_LL;
  advance(6 * LINK_LOCAL_RETRY_MS);
  assert.equal(sent.length, 1);
  ra(sent[0]);
  advance(6 * LINK_LOCAL_RETRY_MS + MAX_INITIAL_RTR_ADVERT_INTERVAL_MS);
  assert.equal(sent.length, 2, 'the retries did not use up the initial RAs');
  service.close();
});

test('a solicitation from an address is answered at once by unicast to the frame source MAC', () => {
  const { service, sent } = fixture();
  service.start();
  sent.length = 0;
  // The link-layer option names another MAC: the answer still goes to the frame's source.
  service.handleSolicitation(rs(HOST_LL, Buffer.from([1, 1, 2, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa])), { srcMac: HOST_MAC });
  assert.equal(sent.length, 1);
  const answer = ra(sent[0]);
  assert.equal(answer.packet.dstMac, HOST_MAC);
  assert.deepEqual(answer.packet.dst, HOST_LL);
  assert.equal(answer.routerLifetime, ROUTER_LIFETIME_S);
  assert.equal(service.counters.sentSolicited, 1);
  assert.equal(service.counters.rsReceived, 1);
  service.close();
});

test('invalid and rate-limited solicitations are dropped and counted by reason', () => {
  const { service, sent, drops } = fixture();
  const bad = rs(HOST_LL);
  service.handleSolicitation({ ...bad, hopLimit: 64 }, { srcMac: HOST_MAC });
  assert.deepEqual(drops, ['rs-hop-limit']);
  for (let i = 0; i < 5; i++) service.handleSolicitation(rs(HOST_LL), { srcMac: HOST_MAC });
  assert.equal(sent.length, 3);
  assert.deepEqual(drops, ['rs-hop-limit', 'rate-limited-source', 'rate-limited-source']);
  assert.equal(service.counters.rsDropped, 3);
  assert.equal(service.counters.rsReceived, 6);
  service.close();
});

test('a solicitation from :: is answered by an early multicast RA', () => {
  const { service, sent, advance } = fixture();
  service.start();
  advance(10_000);
  service.handleSolicitation(rs(Buffer.alloc(16)), { srcMac: HOST_MAC });
  assert.equal(sent.length, 1, 'not at once');
  advance(10_250);
  assert.equal(sent.length, 2);
  assert.equal(ra(sent[1]).packet.dstMac, '33:33:00:00:00:01');
  assert.equal(service.counters.sentUnsolicited, 2);
  service.close();
});

test('close() sends one final RA: router lifetime 0, prefix deprecated, DNS lifetime 0; then nothing more', () => {
  const { service, sent, timers, advance } = fixture();
  service.start();
  service.close();
  assert.equal(sent.length, 2);
  const final = ra(sent[1]);
  assert.deepEqual(final.packet.dst, addr('ff02::1'));
  assert.equal(final.routerLifetime, 0);
  assert.equal(final.preferred, 0);
  assert.equal(final.valid, FINAL_PREFIX_VALID_LIFETIME_S);
  assert.equal(final.dnsLifetime, 0);
  assert.equal(service.counters.sentFinal, 1);
  assert.equal(timers.length, 0, 'no timer left');
  service.close();
  service.handleSolicitation(rs(HOST_LL), { srcMac: HOST_MAC });
  advance(10_000_000);
  assert.equal(sent.length, 2);
});

test('close() before start() sends nothing', () => {
  const { service, sent } = fixture();
  service.close();
  assert.equal(sent.length, 0);
});

test('a configuration that cannot be encoded is refused at construction and by setConfig', () => {
  const base = {
    mac: () => BRIDGE_MAC,
    linkLocal: () => BRIDGE_LL,
    send: () => true,
    log: createLogger('error', () => undefined),
    drops: new RateLimitedCounter(),
  };
  assert.throws(() => new RaService({ ...base, config: { ...config, domains: ['bad..domain'] } }), RangeError);
  const { service, sent } = fixture();
  assert.throws(() => service.setConfig({ ...config, domains: ['x'.repeat(64)] }), RangeError);
  service.setConfig({ ...config, mtu: 1400 });
  service.start();
  const message = ra(sent[0]).packet.message;
  assert.equal(message.readUInt32BE(24 + 4), 1400, 'the MTU option carries the new MTU');
  service.close();
});
