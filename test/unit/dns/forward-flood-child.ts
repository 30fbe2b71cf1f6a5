// Run by forward-limits.test.ts in its own process (the forwarder before issue 11 spun forever in one synchronous
// loop, which no in-process timer can interrupt): floods a Forwarder with 70 000 distinct questions against a
// black-hole upstream on 127.0.0.1 and prints what it saw as one JSON line.
import { createSocket } from 'node:dgram';
import { Forwarder, StaticUpstreams } from '../../../src/dns/forward/index.ts';

const FLOOD = 70_000;
const CLIENTS = 2048;

const blackHole = createSocket('udp4');
await new Promise<void>((resolve) => blackHole.bind(0, '127.0.0.1', () => resolve()));
let received = 0;
blackHole.on('message', () => received++);

const forwarder = new Forwarder({
  upstreams: new StaticUpstreams([{ address: '127.0.0.1', port: blackHole.address().port, family: 4 }]),
  timeoutMs: 1000,
  totalTimeoutMs: 1000,
});
const counters = forwarder as unknown as { pendingCount: number; inFlightCount?: number; openSocketCount?: number };
let maxPending = 0;
let maxInFlight = 0;
let maxSockets = 0;
const sample = (): void => {
  maxPending = Math.max(maxPending, counters.pendingCount);
  maxInFlight = Math.max(maxInFlight, counters.inFlightCount ?? -1);
  maxSockets = Math.max(maxSockets, counters.openSocketCount ?? -1);
};
let settled = 0;
let settledWhenImmediateRan = -1;
setImmediate(() => {
  sample();
  settledWhenImmediateRan = settled;
});
const sampler = setInterval(sample, 1);

const failures = new Map<string, number>();
const results: Promise<void>[] = [];
for (let i = 0; i < FLOOD; i++) {
  const client = `10.0.${(i % CLIENTS) >> 8}.${i % 256}`;
  results.push(
    forwarder.resolve({ name: `n${i}.flood.test`, type: 'A' }, {}, client).then((result) => {
      settled++;
      const kind = result.ok ? 'ok' : result.failure;
      failures.set(kind, (failures.get(kind) ?? 0) + 1);
    }),
  );
}
sample();
await Promise.all(results);
clearInterval(sampler);
sample();
await forwarder.close();
blackHole.close();
process.stdout.write(
  `${JSON.stringify({
    settled,
    settledWhenImmediateRan,
    maxPending,
    maxInFlight,
    maxSockets,
    received,
    failures: Object.fromEntries(failures),
    stats: forwarder.stats,
  })}\n`,
);
