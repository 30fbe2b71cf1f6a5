import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { enableForwarding, parseSysctlFlag, restoreForwarding } from '../../../src/host/forwarding.ts';

// The real file is /proc/sys/net/ipv4/ip_forward (tested inside a namespace by the integration test);
// here a scratch file stands in for it.
function withFile(contents: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-forwarding-'));
  try {
    const path = join(dir, 'ip_forward');
    writeFileSync(path, contents);
    fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('forwarding', () => {
  it('writes 1 when it was 0 and restores 0', () => {
    withFile('0\n', (path) => {
      const change = enableForwarding(path);
      assert.deepEqual(change, { path, previous: '0', changed: true });
      assert.equal(readFileSync(path, 'utf8'), '1\n');
      assert.equal(restoreForwarding(change), true);
      assert.equal(readFileSync(path, 'utf8'), '0\n');
    });
  });

  it('leaves an enabled value alone and restores nothing', () => {
    withFile('1\n', (path) => {
      const change = enableForwarding(path);
      assert.equal(change.changed, false);
      writeFileSync(path, '1\n');
      assert.equal(restoreForwarding(change), false);
      assert.equal(readFileSync(path, 'utf8'), '1\n');
    });
  });

  it('reads sysctl flags strictly', () => {
    assert.equal(parseSysctlFlag('0\n'), false);
    assert.equal(parseSysctlFlag('1'), true);
    assert.equal(parseSysctlFlag('2'), true);
    assert.throws(() => parseSysctlFlag('yes'), /unexpected sysctl value/);
  });

  it('names the file it cannot read', () => {
    assert.throws(() => enableForwarding('/nonexistent/ip_forward'), /cannot read \/nonexistent\/ip_forward: ENOENT/);
  });
});
