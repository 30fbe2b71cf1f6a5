import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyPacer } from '../../../src/dhcp/reply-pacer.ts';

const frame = (n: number): Buffer => Buffer.from([n]);
const ids = (frames: Buffer[]): number[] => frames.map((f) => f[0] as number);

test('a burst leaves at once up to the bucket, the rest in order as it refills, and a full queue refuses', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const sent: number[][] = [];
  const pacer = new ReplyPacer({ burst: 4, perMs: 2, maxQueued: 5, now: () => clock, send: (fs) => sent.push(ids(fs)) });
  assert.equal(pacer.send(Array.from({ length: 10 }, (_, i) => frame(i))), 1, 'one over burst + queue is refused');
  assert.deepEqual(sent, [[0, 1, 2, 3]]);
  assert.equal(pacer.queued, 5);
  // Later replies wait behind the queued ones, even if the bucket has refilled by then.
  clock = 1;
  t.mock.timers.tick(1);
  assert.deepEqual(sent, [
    [0, 1, 2, 3],
    [4, 5],
  ]);
  clock = 10;
  assert.equal(pacer.send([frame(42)]), 0);
  assert.deepEqual(sent.length, 2, 'queued ones first: the new reply waits for the timer');
  t.mock.timers.tick(1);
  assert.deepEqual(sent, [
    [0, 1, 2, 3],
    [4, 5],
    [6, 7, 8, 42],
  ]);
  assert.equal(pacer.queued, 0);
  // An idle bucket is full again, but never holds more than one burst.
  clock = 1000;
  pacer.send(Array.from({ length: 6 }, (_, i) => frame(100 + i)));
  assert.deepEqual(sent.at(-1), [100, 101, 102, 103]);
  pacer.close();
  assert.equal(pacer.queued, 0);
});
