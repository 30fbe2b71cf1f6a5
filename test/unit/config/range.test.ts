import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AddressRange, checkRangeInSubnet, parseRange } from '../../../src/config/range.ts';
import { checkReservationConflicts, parseHostsFile, parseReservation } from '../../../src/config/reservations.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === null) throw new Error(`bad test address ${text}`);
  return v;
}

function range(first: string, last: string): AddressRange {
  return { first: ip(first), last: ip(last) };
}

function errorOf<T>(r: { ok: true; value: T } | { ok: false; error: string }): string {
  if (r.ok) assert.fail(`expected an error, got ${JSON.stringify(r.value)}`);
  return r.error;
}

// ---- parseRange ----

test('parseRange: full form and last-octet shorthand', () => {
  assert.deepEqual(parseRange('10.0.0.100-10.0.0.200'), { ok: true, value: range('10.0.0.100', '10.0.0.200') });
  assert.deepEqual(parseRange('10.0.0.100-200'), { ok: true, value: range('10.0.0.100', '10.0.0.200') });
  assert.deepEqual(parseRange(' 10.0.0.100 - 10.0.1.5 '), { ok: true, value: range('10.0.0.100', '10.0.1.5') });
  assert.deepEqual(parseRange('10.0.0.7-7'), { ok: true, value: range('10.0.0.7', '10.0.0.7') });
  assert.deepEqual(parseRange('192.168.255.1-254'), { ok: true, value: range('192.168.255.1', '192.168.255.254') });
});

test('parseRange: errors name the problem and show the usage', () => {
  const notRange = errorOf(parseRange('10.0.0.100'));
  assert.match(notRange, /^--range "10\.0\.0\.100" is not a range: use --range FIRST-LAST/);
  assert.match(errorOf(parseRange('1-2-3')), /is not a range/);
  assert.match(errorOf(parseRange('10.0.0-10.0.0.5')), /^--range: "10\.0\.0" is not an IPv4 address: use --range/);
  assert.match(errorOf(parseRange('10.0.0.300-10.0.0.5')), /"10\.0\.0\.300" is not an IPv4 address/);
  assert.match(errorOf(parseRange('10.0.0.1-256')), /^--range: "256" is not an IPv4 address or last octet/);
  assert.match(errorOf(parseRange('10.0.0.1-x')), /"x" is not an IPv4 address or last octet/);
  assert.equal(errorOf(parseRange('10.0.0.200-100')), '--range 10.0.0.200-10.0.0.100 is reversed: put the lower address first');
  assert.match(errorOf(parseRange('10.0.1.1-10.0.0.255')), /is reversed/);
});

// ---- checkRangeInSubnet ----

test('checkRangeInSubnet: accepted ranges', () => {
  const bridge = ip('10.0.0.1');
  assert.equal(checkRangeInSubnet(range('10.0.0.100', '10.0.0.200'), bridge, 24), null);
  assert.equal(checkRangeInSubnet(range('10.0.0.2', '10.0.0.254'), bridge, 24), null);
  assert.equal(checkRangeInSubnet(range('10.0.1.0', '10.0.1.255'), bridge, 16), null);
});

test('checkRangeInSubnet: outside the subnet, containing the bridge, network or broadcast address', () => {
  const bridge = ip('10.0.0.1');
  assert.equal(
    checkRangeInSubnet(range('10.0.1.10', '10.0.1.20'), bridge, 24),
    '--range 10.0.1.10-10.0.1.20 is outside the bridge subnet 10.0.0.0/24: choose addresses inside it',
  );
  assert.match(checkRangeInSubnet(range('10.0.0.250', '10.0.1.5'), bridge, 24) ?? '', /outside the bridge subnet 10\.0\.0\.0\/24/);
  assert.match(checkRangeInSubnet(range('9.255.255.250', '10.0.0.5'), bridge, 24) ?? '', /outside the bridge subnet/);
  assert.equal(
    checkRangeInSubnet(range('10.0.0.1', '10.0.0.50'), bridge, 24),
    '--range 10.0.0.1-10.0.0.50 contains the bridge address 10.0.0.1: start the range above it',
  );
  assert.match(checkRangeInSubnet(range('10.0.0.100', '10.0.0.200'), ip('10.0.0.150'), 24) ?? '', /contains the bridge address 10\.0\.0\.150/);
  assert.equal(
    checkRangeInSubnet(range('10.0.0.0', '10.0.0.0'), ip('10.0.0.254'), 24),
    '--range 10.0.0.0-10.0.0.0 includes the network or broadcast address of 10.0.0.0/24: keep it strictly inside',
  );
  assert.match(checkRangeInSubnet(range('10.0.0.100', '10.0.0.255'), bridge, 24) ?? '', /network or broadcast address/);
});

// ---- Reservations ----

test('parseReservation: MAC,IP[,NAME], normalised', () => {
  assert.deepEqual(parseReservation('02:1A:B0:00:00:05,10.0.0.5,Web'), {
    ok: true,
    value: { mac: '02:1a:b0:00:00:05', ip: ip('10.0.0.5'), name: 'web' },
  });
  assert.deepEqual(parseReservation(' 02-1a-b0-00-00-06 , 10.0.0.6 '), {
    ok: true,
    value: { mac: '02:1a:b0:00:00:06', ip: ip('10.0.0.6'), name: null },
  });
  assert.equal(parseReservation(`02:1a:b0:00:00:07,10.0.0.7,${'a'.repeat(63)}`).ok, true);
});

test('parseReservation: errors', () => {
  assert.equal(
    errorOf(parseReservation('02:1a:b0:00:00:05')),
    '"02:1a:b0:00:00:05" is not MAC,IP[,[IP6]][,NAME] (e.g. 02:1a:b0:00:00:05,10.0.0.5,[fd00::5],web)',
  );
  assert.match(errorOf(parseReservation('a,b,c,d,e')), /is not MAC,IP\[,\[IP6\]\]\[,NAME\]/);
  assert.equal(errorOf(parseReservation('02:1a:b0:00:05,10.0.0.5')), '"02:1a:b0:00:05" is not a MAC address like 02:1a:b0:00:00:05');
  assert.equal(errorOf(parseReservation('02:1a:b0:00:00:05,10.0.0')), '"10.0.0" is not an IPv4 address');
  assert.equal(errorOf(parseReservation('02:1a:b0:00:00:05,10.0.0.5,web_1')), '"web_1" is not a host name (letters, digits, hyphens, at most 63)');
  assert.match(errorOf(parseReservation('02:1a:b0:00:00:05,10.0.0.5,-web')), /"-web" is not a host name/);
  assert.match(errorOf(parseReservation(`02:1a:b0:00:00:05,10.0.0.5,${'a'.repeat(64)}`)), /is not a host name/);
  assert.match(errorOf(parseReservation('02:1a:b0:00:00:05,10.0.0.5,')), /"" is not a host name/);
});

test('parseHostsFile: comments and blank lines skipped; errors carry file and line', () => {
  const text = ['# containers', '02:1a:b0:00:00:05,10.0.0.5,web   # the web server', '', '   ', '02:1a:b0:00:00:06,10.0.0.6'].join('\n');
  assert.deepEqual(parseHostsFile(text, 'hosts'), {
    ok: true,
    value: [
      { mac: '02:1a:b0:00:00:05', ip: ip('10.0.0.5'), name: 'web' },
      { mac: '02:1a:b0:00:00:06', ip: ip('10.0.0.6'), name: null },
    ],
  });
  assert.deepEqual(parseHostsFile('', 'empty'), { ok: true, value: [] });
  const bad = `${text}\n02:1a:b0:00:00:07,10.0.0.777,db\n`;
  assert.equal(errorOf(parseHostsFile(bad, '/etc/lxc-dhcpd/hosts')), '/etc/lxc-dhcpd/hosts:6: "10.0.0.777" is not an IPv4 address');
  assert.match(errorOf(parseHostsFile('# x\nnonsense', 'f')), /^f:2: "nonsense" is not MAC,IP\[,\[IP6\]\]\[,NAME\]/);
});

test('parseHostsFile: Windows line endings are tolerated', () => {
  const r = parseHostsFile('02:1a:b0:00:00:05,10.0.0.5,web\r\n02:1a:b0:00:00:06,10.0.0.6\r\n', 'crlf');
  assert.ok(r.ok, r.ok ? '' : r.error);
  if (r.ok)
    assert.deepEqual(
      r.value.map((v) => v.name),
      ['web', null],
    );
});

test('checkReservationConflicts: duplicate MAC, IP or name', () => {
  const a = { mac: '02:00:00:00:00:01', ip: ip('10.0.0.5'), name: 'web' };
  const b = { mac: '02:00:00:00:00:02', ip: ip('10.0.0.6'), name: 'db' };
  assert.equal(checkReservationConflicts([a, b]), null);
  assert.equal(checkReservationConflicts([a, { ...b, mac: a.mac }]), 'MAC 02:00:00:00:00:01 is reserved twice: keep one reservation per MAC');
  assert.equal(
    checkReservationConflicts([a, { ...b, ip: a.ip }]),
    'IP 10.0.0.5 is reserved for both 02:00:00:00:00:01 and 02:00:00:00:00:02: give each its own address',
  );
  assert.equal(checkReservationConflicts([a, { ...b, name: 'web' }]), 'name web is reserved twice: names must be unique');
  assert.equal(
    checkReservationConflicts([
      { ...a, name: null },
      { ...b, name: null },
    ]),
    null,
  );
});
