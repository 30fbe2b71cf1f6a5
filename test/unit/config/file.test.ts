import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigFile } from '../../../src/config/file.ts';

const KNOWN = new Set(['bridge', 'range', 'host', 'nat', 'lease-time', 'upstream']);
const REPEATABLE = new Set(['host', 'upstream']);

test('keys, values, booleans, repeated keys and comments', () => {
  const r = parseConfigFile(
    '# comment\nbridge = br0\nrange 10.0.0.100-200\nhost = 02:1a:b0:00:00:05,10.0.0.5,web # inline\nhost=02:1a:b0:00:00:06,10.0.0.6\nno-nat\nlease-time = 600\n\n',
    'x.conf',
    REPEATABLE,
    KNOWN,
  );
  assert.ok(r.ok);
  assert.deepEqual(r.value, {
    bridge: 'br0',
    range: '10.0.0.100-200',
    host: ['02:1a:b0:00:00:05,10.0.0.5,web', '02:1a:b0:00:00:06,10.0.0.6'],
    nat: false,
    'lease-time': '600',
  });
});

test('errors name the file and line', () => {
  const unknown = parseConfigFile('bridge = br0\nbogus = 1\n', '/etc/lxc-dhcpd/br0.conf', REPEATABLE, KNOWN);
  assert.deepEqual(unknown, { ok: false, error: '/etc/lxc-dhcpd/br0.conf:2: unknown option "bogus" (see lxc-dhcpd --help)' });
  const twice = parseConfigFile('bridge = br0\nbridge = br1\n', 'c', REPEATABLE, KNOWN);
  assert.equal(twice.ok, false);
  assert.match((twice as { error: string }).error, /^c:2: bridge is given twice/);
  const bare = parseConfigFile('host\n', 'c', REPEATABLE, KNOWN);
  assert.match((bare as { error: string }).error, /^c:1: host needs a value/);
  const badKey = parseConfigFile('Bridge = br0\n', 'c', REPEATABLE, KNOWN);
  assert.match((badKey as { error: string }).error, /is not an option name/);
});
