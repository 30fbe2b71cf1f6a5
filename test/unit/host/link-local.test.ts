import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LINK_LOCAL_CACHE_MS, linkLocalFromIfInet6, linkLocalSource } from '../../../src/host/link-local.ts';

// As the kernel prints it: address, ifindex, prefix length, scope, flags, name (a real capture's shape).
const TEXT = [
  '00000000000000000000000000000001 01 80 10 80       lo',
  'fd000db8000100000000000000000001 05 40 00 80      br0',
  'fe80000000000000001ab0fffe0000aa 05 40 20 c0      br0', // tentative (0x40) and permanent (0x80)
  'fe80000000000000001ab0fffe0000bb 05 40 20 88      br0', // DAD failed
  'fe80000000000000001ab0fffe000001 05 40 20 80      br0',
  'fe80000000000000001ab0fffe000005 06 40 20 80    br0.1',
  '',
].join('\n');

test('the first usable link-local address of the interface is chosen; tentative and DAD-failed ones are not', () => {
  assert.equal(linkLocalFromIfInet6(TEXT, 'br0')?.toString('hex'), 'fe80000000000000001ab0fffe000001');
  assert.equal(linkLocalFromIfInet6(TEXT, 'br0.1')?.toString('hex'), 'fe80000000000000001ab0fffe000005');
  assert.equal(linkLocalFromIfInet6(TEXT, 'lo'), null, 'lo has no link-local here (::1 is host scope)');
  assert.equal(linkLocalFromIfInet6(TEXT, 'br'), null, 'names match whole');
  assert.equal(linkLocalFromIfInet6('garbage\n\n  x y z', 'br0'), null);
});

test('linkLocalSource reads at most once per LINK_LOCAL_CACHE_MS and treats a failed read as no address', () => {
  const clock = { t: 0 };
  let reads = 0;
  let text = '';
  const source = linkLocalSource('br0', {
    now: () => clock.t,
    read: () => {
      reads++;
      if (text === 'throw') throw new Error('ENOENT');
      return text;
    },
  });
  assert.equal(source(), null);
  text = TEXT;
  assert.equal(source(), null, 'cached');
  assert.equal(reads, 1);
  clock.t = LINK_LOCAL_CACHE_MS;
  assert.equal(source()?.toString('hex'), 'fe80000000000000001ab0fffe000001');
  assert.equal(reads, 2);
  text = 'throw';
  clock.t = 2 * LINK_LOCAL_CACHE_MS;
  assert.equal(source(), null);
});
