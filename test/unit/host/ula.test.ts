import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readMachineId, ulaFor } from '../../../src/host/ula.ts';
import { formatIPv6 } from '../../../src/net/address6.ts';

const MACHINE_A = '3d1219c7c4c5404aaa1f6d2a48adfda4';
const MACHINE_B = '0123456789abcdef0123456789abcdef';

describe('the stable ULA /64 of --ipv6 auto (RFC 4193)', () => {
  it('is fd00::/8 + 40 bits of SHA-256(machine id, bridge) + subnet 0, with ::1 for the bridge', () => {
    const ula = ulaFor(MACHINE_A, 'lxbr0');
    assert.equal(ula.prefixLength, 64);
    assert.equal(ula.address[0], 0xfd);
    assert.deepEqual([...ula.address.subarray(6, 8)], [0, 0], 'subnet ID 0');
    assert.deepEqual([...ula.address.subarray(8)], [0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(ula.prefix, Buffer.concat([ula.address.subarray(0, 8), Buffer.alloc(8)]));
    // Pinned: a change of the derivation would renumber every user's containers.
    assert.equal(formatIPv6(ula.address), 'fd3b:4c77:3a73::1');
  });

  it('is stable: the same machine id and bridge give the same prefix, whatever the file text around the id', () => {
    assert.deepEqual(ulaFor(MACHINE_A, 'lxbr0'), ulaFor(`${MACHINE_A.toUpperCase()}\n`, 'lxbr0'));
  });

  it('differs between bridges of one host', () => {
    assert.notDeepEqual(ulaFor(MACHINE_A, 'lxbr0').prefix, ulaFor(MACHINE_A, 'lxbr1').prefix);
  });

  it('differs between hosts with the same bridge name', () => {
    assert.notDeepEqual(ulaFor(MACHINE_A, 'lxbr0').prefix, ulaFor(MACHINE_B, 'lxbr0').prefix);
  });

  it('keeps the fd prefix for many inputs (the hash never touches the first byte)', () => {
    for (let i = 0; i < 200; i++) assert.equal(ulaFor(`${i}`, `br${i}`).address[0], 0xfd);
  });
});

describe('reading the machine id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-ula-'));
  it('returns the text of the file', () => {
    const path = join(dir, 'machine-id');
    writeFileSync(path, `${MACHINE_A}\n`);
    assert.deepEqual(readMachineId(path), { ok: true, value: `${MACHINE_A}\n` });
  });

  it('a missing or empty file is one line telling the user to pass --ipv6 ADDR/64', () => {
    const missing = readMachineId(join(dir, 'nope'));
    assert.equal(missing.ok, false);
    if (!missing.ok) assert.match(missing.error, /cannot be read \(ENOENT\): give one with --ipv6 ADDR\/64/);
    const path = join(dir, 'empty');
    writeFileSync(path, '\n');
    const empty = readMachineId(path);
    assert.equal(empty.ok, false);
    if (!empty.ok) assert.match(empty.error, /is empty: give one with --ipv6 ADDR\/64/);
    rmSync(dir, { recursive: true, force: true });
  });
});
