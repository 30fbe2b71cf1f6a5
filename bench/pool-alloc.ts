// Allocation latency of a nearly full /8 pool: 99% of the addresses are taken with take(), leaving one
// pseudo-random address free in every block of 100, so the never-used space is ~168k separate runs.
// Then allocate() hands out the remaining never-used addresses and each call is timed.
import { AddressPool } from '../src/leases/pool.ts';
import { parseIPv4 } from '../src/net/address.ts';

const FIRST = parseIPv4('10.0.0.1');
const LAST = parseIPv4('10.255.255.254');
if (FIRST === null || LAST === null) throw new Error('bad bench range');
const BLOCK = 100;
const SAMPLES = 100_000;

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

const pool = new AddressPool(FIRST, LAST);
const next = lcg(42);
const fillStart = process.hrtime.bigint();
for (let blockStart = FIRST; blockStart <= LAST; blockStart += BLOCK) {
  const blockEnd = Math.min(blockStart + BLOCK - 1, LAST);
  const keepFree = blockStart + (next() % (blockEnd - blockStart + 1));
  for (let a = blockStart; a <= blockEnd; a++) if (a !== keepFree) pool.take(a);
}
const fillSeconds = Number(process.hrtime.bigint() - fillStart) / 1e9;
const runsAfterFill = pool.neverUsedRunCount;
const freeAfterFill = pool.freeCount;

const samples = new Float64Array(SAMPLES);
for (let i = 0; i < SAMPLES; i++) {
  const start = process.hrtime.bigint();
  const got = pool.allocate();
  const end = process.hrtime.bigint();
  if (got === null) throw new Error('pool ran out during the bench');
  samples[i] = Number(end - start) / 1000;
}
const sorted = Array.from(samples).sort((a, b) => a - b);
const mean = sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? Number.NaN;

console.log(
  JSON.stringify({
    metric: 'pool_alloc_us_99pct_full_slash8',
    mean: Number(mean.toFixed(3)),
    p99: Number(p99.toFixed(3)),
    rssMB: Number((process.memoryUsage().rss / 1048576).toFixed(1)),
    poolSize: pool.size,
    freeAfterFill,
    runsAfterFill,
    samples: SAMPLES,
    fillSeconds: Number(fillSeconds.toFixed(2)),
  }),
);
