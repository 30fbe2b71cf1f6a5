import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressProber, type ProbeResult } from '../../../src/dhcp/probe.ts';

const BASE = 0x0a000100;

test('thousands of probes: each sent once, all free after the timeout, an ARP answer marks only its own in use', async () => {
  const sent: number[] = [];
  const results: ProbeResult[] = [];
  const prober = new AddressProber(
    (ip) => sent.push(ip),
    40,
    (r) => results.push(r),
  );
  const started = performance.now();
  const probes = Array.from({ length: 3000 }, (_, i) => prober.probe(BASE + i));
  assert.equal(prober.probe(BASE + 5), probes[5], 'a second probe of the same address shares the first');
  assert.equal(sent.length, 3000);
  assert.equal(prober.inFlight, 3000);
  prober.onArpFrom(BASE + 7);
  prober.onArpFrom(0x0a0000ff); // not being probed: ignored
  const outcome = await Promise.all(probes);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 39, `resolved after ${elapsed.toFixed(1)} ms, before the timeout`);
  assert.equal(outcome[7], 'in-use');
  assert.equal(outcome.filter((r) => r === 'free').length, 2999);
  assert.equal(results.length, 3000);
  assert.equal(prober.inFlight, 0);
});

test('probes started later wait their own full timeout; an address answered and probed again gets a fresh timeout', async () => {
  const prober = new AddressProber(() => undefined, 60);
  const first = prober.probe(BASE);
  await new Promise((r) => setTimeout(r, 30));
  const laterStart = performance.now();
  const later = prober.probe(BASE + 1);
  prober.onArpFrom(BASE);
  assert.equal(await first, 'in-use');
  await new Promise((r) => setTimeout(r, 20));
  const againStart = performance.now();
  const again = prober.probe(BASE);
  // The first probe's deadline passes while `again` is pending: it must not end `again` early.
  assert.equal(await later, 'free');
  assert.ok(performance.now() - laterStart >= 59, 'the later probe waited its whole timeout');
  assert.equal(prober.inFlight, 1, 'the second probe of the first address is still running');
  assert.equal(await again, 'free');
  assert.ok(performance.now() - againStart >= 59);
});

test('close() ends every pending probe as free and stops the timer', async () => {
  const prober = new AddressProber(() => undefined, 10_000);
  const p = [prober.probe(BASE), prober.probe(BASE + 1)];
  prober.close();
  assert.deepEqual(await Promise.all(p), ['free', 'free']);
  assert.equal(prober.inFlight, 0);
});

test('after close() a probe sends nothing and starts no timer (the daemon is stopping: its socket closes next)', async () => {
  const sent: number[] = [];
  const prober = new AddressProber((ip) => sent.push(ip), 10_000);
  prober.close();
  assert.equal(await prober.probe(BASE), 'free');
  assert.deepEqual(sent, []);
  assert.equal(prober.inFlight, 0);
});

test('a sendProbe that throws still gives an answer (free, at the timeout)', async () => {
  const prober = new AddressProber(() => {
    throw new Error('send queue full');
  }, 5);
  assert.equal(await prober.probe(BASE), 'free');
});
