import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeDomainSearchList, decodeName, encodeDomainSearchList, encodeName, nameToLabels } from '../../../src/dhcp/domain-name.ts';

function bytes(...parts: (number | string)[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'latin1'))));
}

test('option 119: ["lxc"] is one uncompressed name', () => {
  assert.deepEqual(encodeDomainSearchList(['lxc']), bytes(3, 'lxc', 0));
  assert.deepEqual(encodeDomainSearchList(['lxc.']), bytes(3, 'lxc', 0));
});

test("option 119: the second name points at the first one's shared suffix", () => {
  const encoded = encodeDomainSearchList(['a.example.com', 'b.example.com']);
  // a.example.com at 0: "example" starts at offset 2; b.example.com = label "b" then pointer 0xc002.
  assert.deepEqual(encoded, bytes(1, 'a', 7, 'example', 3, 'com', 0, 1, 'b', 0xc0, 0x02));
  assert.ok(encoded);
  assert.deepEqual(decodeDomainSearchList(encoded), ['a.example.com', 'b.example.com']);
});

test('option 119: a name equal to an earlier suffix is a bare pointer; unrelated names are not compressed', () => {
  const encoded = encodeDomainSearchList(['x.lxc', 'lxc', 'other']);
  assert.deepEqual(encoded, bytes(1, 'x', 3, 'lxc', 0, 0xc0, 0x02, 5, 'other', 0));
  assert.ok(encoded);
  assert.deepEqual(decodeDomainSearchList(encoded), ['x.lxc', 'lxc', 'other']);
  assert.deepEqual(encodeDomainSearchList([]), Buffer.alloc(0));
  assert.deepEqual(decodeDomainSearchList(Buffer.alloc(0)), []);
});

test('option 119: names that cannot be encoded make the whole list null', () => {
  assert.equal(encodeDomainSearchList(['ok', 'a..b']), null);
  assert.equal(encodeDomainSearchList(['x'.repeat(64)]), null);
  assert.notEqual(encodeDomainSearchList(['x'.repeat(63)]), null);
});

test('decodeName: returns the name and the offset just after its own bytes', () => {
  const data = bytes(3, 'foo', 0, 3, 'bar', 0xc0, 0x00);
  assert.deepEqual(decodeName(data, 0), { ok: true, name: 'foo', end: 5 });
  assert.deepEqual(decodeName(data, 5), { ok: true, name: 'bar.foo', end: 11 });
  assert.deepEqual(decodeName(bytes(0), 0), { ok: true, name: '', end: 1 });
});

test('decodeName rejects pointer loops, forward pointers and self pointers', () => {
  // Pointer to itself.
  const self = decodeName(bytes(0xc0, 0x00), 0);
  assert.equal(self.ok, false);
  // Forward pointer (to a later name).
  const forward = decodeName(bytes(0xc0, 0x02, 1, 'a', 0), 0);
  assert.equal(forward.ok, false);
  if (!forward.ok) assert.equal(forward.reason, 'compression pointer loop');
  // A loop through a backward pointer: label "a" at 0, pointer back to 0 at 2.
  const loop = decodeDomainSearchList(bytes(1, 'a', 0xc0, 0x00));
  assert.equal(loop, null);
  const loopName = decodeName(bytes(1, 'a', 0xc0, 0x00), 0);
  assert.equal(loopName.ok, false);
});

test('decodeName rejects truncated names, truncated pointers and reserved label types', () => {
  const cases: [Buffer, string][] = [
    [bytes(3, 'fo'), 'label runs past the end'],
    [bytes(3, 'foo'), 'name runs past the end'],
    [bytes(1, 'a', 0xc0), 'truncated compression pointer'],
    [bytes(0x40, 'a', 0), 'bad label type'], // a 64-byte "label" is the 0x40 extended type, not a label
    [bytes(0x80, 0), 'bad label type'],
  ];
  for (const [data, reason] of cases) {
    const r = decodeName(data, 0);
    assert.equal(r.ok, false, reason);
    if (!r.ok) assert.equal(r.reason, reason);
  }
});

test('names over 255 bytes of wire format are rejected by both encoder and decoder', () => {
  const label63 = 'a'.repeat(63);
  // 3×(1+63) + (1+61) + root = 255: the longest legal name.
  const longest = [label63, label63, label63, 'b'.repeat(61)].join('.');
  const longestWire = encodeName(longest);
  assert.ok(longestWire);
  assert.equal(longestWire.length, 255);
  const decoded = decodeName(longestWire, 0);
  assert.ok(decoded.ok);
  if (decoded.ok) assert.equal(decoded.name, longest);
  // One byte more: 256.
  const tooLong = [label63, label63, label63, 'b'.repeat(62)].join('.');
  assert.equal(nameToLabels(tooLong), null);
  assert.equal(encodeName(tooLong), null);
  const wire = Buffer.concat([longestWire.subarray(0, 192), bytes(62, 'b'.repeat(62), 0)]);
  assert.equal(wire.length, 256);
  const r = decodeName(wire, 0);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.reason, 'name too long');
  // A long name made by pointers is limited too.
  const viaPointers = Buffer.concat([bytes(63, label63, 0), bytes(63, label63, 0xc0, 0x00)]);
  const second = decodeName(viaPointers, 65);
  assert.ok(second.ok);
  const chain = Buffer.concat([bytes(63, label63, 0)]);
  let offsets = [0];
  let data = chain;
  for (let i = 0; i < 4; i++) {
    const at = data.length;
    data = Buffer.concat([data, bytes(63, label63, 0xc0 | ((offsets[i] as number) >> 8), (offsets[i] as number) & 0xff)]);
    offsets = [...offsets, at];
  }
  const chained = decodeName(data, offsets[4] as number);
  assert.equal(chained.ok, false);
});

test('encodeName: canonical wire format; nameToLabels splits and validates', () => {
  assert.deepEqual(encodeName('ct-dhcpcd-fqdn.lxc'), bytes(14, 'ct-dhcpcd-fqdn', 3, 'lxc', 0));
  assert.deepEqual(encodeName(''), bytes(0));
  assert.deepEqual(nameToLabels('a.b.c.'), ['a', 'b', 'c']);
  assert.deepEqual(nameToLabels(''), []);
  assert.equal(nameToLabels('.a'), null);
  assert.equal(nameToLabels('a..b'), null);
});
