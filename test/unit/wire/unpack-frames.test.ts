import assert from 'node:assert/strict';
import { test } from 'node:test';
import { META_PER_FRAME, unpackFrames } from '../../../src/wire/packet-socket.ts';

test('unpackFrames splits one wakeup into frames with their packet type and ingress ifindex', () => {
  const data = Buffer.from('aaabbbbbc');
  const meta = Uint32Array.from([3, 1, 12, 5, 0, 13, 1, 4, 0]);
  assert.equal(META_PER_FRAME, 3);
  const frames = unpackFrames(data, meta);
  assert.deepEqual(
    frames.map((f) => ({ text: f.data.toString(), pktType: f.pktType, ifindex: f.ifindex })),
    [
      { text: 'aaa', pktType: 1, ifindex: 12 },
      { text: 'bbbbb', pktType: 0, ifindex: 13 },
      { text: 'c', pktType: 4, ifindex: 0 },
    ],
  );
  // Views on the wakeup's buffer, not copies.
  assert.equal(frames[1]?.data.buffer, data.buffer);
});

test('unpackFrames ignores a trailing partial triple and handles an empty wakeup', () => {
  assert.equal(unpackFrames(Buffer.from('ab'), Uint32Array.from([2, 0, 5, 9])).length, 1);
  assert.deepEqual(unpackFrames(Buffer.alloc(0), new Uint32Array(0)), []);
});
