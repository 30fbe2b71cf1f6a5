import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteColumn, MAX_VALUE_BYTES } from '../../../src/leases/byte-column.ts';

test('text, hex and bytes round trip per slot; null by default and after setNull', () => {
  const column = new ByteColumn(4, 2);
  assert.equal(column.text(0), null);
  column.setText(0, 'web-1');
  column.setText(1, 'ünïcode \u00ff');
  column.setHex(2, '01020304ff');
  column.setBytes(3, Buffer.from([0, 39, 255]));
  assert.equal(column.text(0), 'web-1');
  assert.equal(column.text(1), 'ünïcode \u00ff');
  assert.deepEqual(column.buffer(2), Buffer.from([1, 2, 3, 4, 255]));
  assert.deepEqual(column.buffer(3), Buffer.from([0, 39, 255]));
  column.setNull(0);
  assert.equal(column.text(0), null);
  assert.equal(column.isNull(0), true);
  column.setText(0, '');
  assert.equal(column.text(0), '', 'empty is not null');
  column.growSlots(10);
  assert.equal(column.text(9), null);
  assert.equal(column.text(1), 'ünïcode \u00ff');
});

test('equalsText compares in place, ASCII or not', () => {
  const column = new ByteColumn(3, 8);
  column.setText(0, 'db');
  column.setText(1, 'é');
  assert.equal(column.equalsText(0, 'db'), true);
  assert.equal(column.equalsText(0, 'dc'), false);
  assert.equal(column.equalsText(0, 'db1'), false);
  assert.equal(column.equalsText(1, 'é'), true);
  assert.equal(column.equalsText(1, 'e'), false);
  assert.equal(column.equalsText(2, ''), false, 'null is no text');
});

test('values replaced again and again keep every slot right through growth and compaction', () => {
  const column = new ByteColumn(200, 1);
  const reference: (string | null)[] = new Array(200).fill(null);
  let state = 5;
  for (let step = 0; step < 50_000; step++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const slot = (state >>> 8) % 200;
    const value = state % 7 === 0 ? null : 'x'.repeat((state >>> 3) % 40) + String(step);
    column.setText(slot, value);
    reference[slot] = value;
  }
  for (let slot = 0; slot < 200; slot++) assert.equal(column.text(slot), reference[slot]);
});

test('a value longer than MAX_VALUE_BYTES is refused', () => {
  const column = new ByteColumn(1, 1);
  assert.throws(() => column.setText(0, 'a'.repeat(MAX_VALUE_BYTES + 1)), RangeError);
  column.setText(0, 'a'.repeat(MAX_VALUE_BYTES));
  assert.equal(column.text(0)?.length, MAX_VALUE_BYTES);
});
