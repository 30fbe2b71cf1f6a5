/**
 * Response rate limiting of UDP answers to off-subnet sources: the limiter alone with a fake clock, then wired into a
 * DnsServer on 127.0.0.1 whose "host addresses" are empty, so loopback counts as an outside source.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Question } from '../../../src/dns/message.ts';
import { ResponseRateLimiter, sourceNetwork, sourceNetwork6 } from '../../../src/dns/rrl.ts';
import type { DnsServer } from '../../../src/dns/server.ts';
import { parseIPv6 } from '../../../src/net/address6.ts';
import { ip, makeDnsServer } from './fixture.ts';

test('ResponseRateLimiter: a budget per /24 per second, every slip-th limited response truncated, refilled over time', () => {
  const rrl = new ResponseRateLimiter({ responsesPerSecond: 5, slip: 2, maxSources: 100 });
  const a = ip('192.0.2.7');
  const sameNet = ip('192.0.2.200');
  const other = ip('198.51.100.1');
  const decisions = Array.from({ length: 11 }, (_, i) => rrl.check(i % 2 === 0 ? a : sameNet, 1_000));
  assert.deepEqual(decisions, ['send', 'send', 'send', 'send', 'send', 'drop', 'slip', 'drop', 'slip', 'drop', 'slip']);
  assert.equal(rrl.check(other, 1_000), 'send', 'another network has its own budget');
  assert.equal(rrl.check(a, 1_200), 'send', 'a fifth of a second later: one more');
  assert.equal(rrl.check(a, 1_200), 'drop');
  const later = Array.from({ length: 6 }, () => rrl.check(a, 10_000));
  assert.deepEqual(later.slice(0, 5), ['send', 'send', 'send', 'send', 'send'], 'the burst never exceeds one second of budget');
  assert.notEqual(later[5], 'send');

  const noSlip = new ResponseRateLimiter({ responsesPerSecond: 1, slip: 0, maxSources: 100 });
  assert.deepEqual([noSlip.check(a, 0), noSlip.check(a, 0), noSlip.check(a, 0)], ['send', 'drop', 'drop']);
});

test('ResponseRateLimiter: the source table is bounded, the least recently seen evicted', () => {
  const rrl = new ResponseRateLimiter({ responsesPerSecond: 1, slip: 2, maxSources: 2 });
  rrl.check(ip('192.0.2.1'), 0);
  rrl.check(ip('198.51.100.1'), 0);
  rrl.check(ip('192.0.2.1'), 0); // 192.0.2.0/24 seen again: 198.51.100.0/24 is now the oldest
  rrl.check(ip('203.0.113.1'), 0);
  assert.equal(rrl.size, 2);
  assert.equal(rrl.evictions, 1);
  assert.notEqual(rrl.check(ip('192.0.2.1'), 0), 'send', '192.0.2.0/24 kept its (spent) bucket');
  assert.equal(rrl.check(ip('198.51.100.1'), 0), 'send', 'the evicted network starts afresh');
});

async function burst(server: DnsServer, count: number): Promise<{ answered: number; truncated: number }> {
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  let answered = 0;
  let truncated = 0;
  client.on('message', (msg) => {
    const r = dnsPacket.decode(msg) as dnsPacket.DecodedPacket & { flag_tc: boolean };
    if (r.flag_tc) {
      truncated++;
      assert.equal(r.answers?.length ?? 0, 0);
      assert.equal(r.questions?.[0]?.name, 'test.lxc', 'the slip echoes the question');
    } else answered++;
  });
  const q = dnsPacket.encode({ id: 3, type: 'query', questions: [{ name: 'test.lxc', type: 'A', class: 'IN' } as Question] });
  for (let i = 0; i < count; i++) client.send(q, server.port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 500));
  client.close();
  return { answered, truncated };
}

test('UDP answers to an off-subnet source are rate limited with TC slips; an on-subnet source is not', async () => {
  const limits = { rrlResponsesPerSecond: 5, rrlSlip: 2 };
  const outside = makeDnsServer(null, { listen: '127.0.0.1', limits, hostAddresses: () => [] });
  const inside = makeDnsServer(null, { listen: '127.0.0.1', limits, hostAddresses: () => [], subnet: { ip: '127.0.0.1', prefixLength: 8 } });
  await outside.listen();
  await inside.listen();
  try {
    const off = await burst(outside, 40);
    assert.ok(off.answered >= 5 && off.answered <= 7, `off-subnet source answered ${off.answered} of 40 at 5/s`);
    assert.ok(off.truncated >= 15 && off.truncated <= 20, `${off.truncated} truncated slips`);
    assert.equal(outside.counters.limits.rrlSlipped, off.truncated);
    assert.equal(outside.counters.limits.rrlDropped, 40 - off.answered - off.truncated);
    const on = await burst(inside, 40);
    assert.deepEqual(on, { answered: 40, truncated: 0 });
  } finally {
    outside.close();
    inside.close();
  }
});

test('IPv6 sources share a budget per /48, apart from every IPv4 /24', () => {
  const v6 = (t: string): number => sourceNetwork6(parseIPv6(t) as Buffer);
  assert.equal(v6('2001:db8:1:ff::1'), v6('2001:db8:1:2::9'), 'same /48');
  assert.notEqual(v6('2001:db8:1::1'), v6('2001:db8:2::1'), 'another /48');
  assert.ok(v6('::a00:1') > sourceNetwork(0xffffffff), 'never an IPv4 key');
  const rrl = new ResponseRateLimiter({ responsesPerSecond: 2, slip: 0, maxSources: 100 });
  assert.equal(rrl.checkNetwork(v6('2001:db8:1::1'), 0), 'send');
  assert.equal(rrl.checkNetwork(v6('2001:db8:1:5::1'), 0), 'send');
  assert.equal(rrl.checkNetwork(v6('2001:db8:1:6::1'), 0), 'drop', 'the /48 spent its budget');
  assert.equal(rrl.checkNetwork(v6('2001:db8:2::1'), 0), 'send');
});
