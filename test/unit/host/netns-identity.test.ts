import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { netnsSuffix } from '../../../src/host/netns-identity.ts';

test('no suffix in the initial namespace, @NAME for a named one, @net-INODE otherwise', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netns-'));
  symlinkSync('net:[4026531840]', join(dir, 'init'));
  symlinkSync('net:[4026531840]', join(dir, 'same'));
  assert.equal(netnsSuffix(join(dir, 'same'), join(dir, 'init'), join(dir, 'none')), '');
  const named = join(dir, 'named');
  mkdirSync(named);
  writeFileSync(join(named, 'lab'), '');
  const inode = statSync(join(named, 'lab')).ino;
  symlinkSync(`net:[${inode}]`, join(dir, 'own'));
  assert.equal(netnsSuffix(join(dir, 'own'), join(dir, 'init'), named), '@lab');
  symlinkSync('net:[123]', join(dir, 'anon'));
  assert.equal(netnsSuffix(join(dir, 'anon'), join(dir, 'init'), named), '@net-123');
  assert.equal(netnsSuffix(join(dir, 'missing'), join(dir, 'init'), named), '', 'unreadable: no suffix');
});
