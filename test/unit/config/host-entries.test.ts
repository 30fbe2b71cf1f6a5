/**
 * `--host` and hosts-file lines by host name (`NAME,IP`, dnsmasq's `dhcp-host=NAME,IP`) next to those by MAC: how a
 * line is told apart, what is refused with which fix, and the conflicts between the two kinds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkReservationConflicts,
  formatReservation,
  parseHostEntry,
  parseHostsFile,
  reservationProblem,
  splitHostEntries,
} from '../../../src/config/reservations.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (text: string): number => parseIPv4(text) as number;
const CONTEXT = { serverIp: ip('10.0.3.1'), prefixLength: 24, deniedNames: new Set(['localhost', 'wpad', 'lxc']) };

test('NAME,IP is a reservation by host name, lower-cased; a MAC first is one by MAC, [IP6] kept', () => {
  assert.deepEqual(parseHostEntry('MyContainer, 10.0.3.100'), { ok: true, value: { name: 'mycontainer', ip: ip('10.0.3.100') } });
  assert.deepEqual(parseHostEntry('00:16:3e:aa:bb:cc,10.0.3.5,[fd42::5],web'), {
    ok: true,
    value: { mac: '00:16:3e:aa:bb:cc', ip: ip('10.0.3.5'), name: 'web', ip6: 'fd42::5' },
  });
  assert.equal(formatReservation({ name: 'web', ip: ip('10.0.3.100') }), 'web,10.0.3.100');
});

test('a bad name, a client-id, an IPv6 address or a third field on a name reservation: one line naming the fix', () => {
  const error = (text: string): string => {
    const r = parseHostEntry(text);
    assert.equal(r.ok, false, text);
    return r.ok ? '' : r.error;
  };
  assert.match(error('web.lxc,10.0.3.100'), /"web.lxc" is neither a MAC address like .* nor a host name \(one label/);
  assert.match(error('web_1,10.0.3.100'), /"web_1" is neither a MAC address/);
  assert.match(error('-web,10.0.3.100'), /"-web" is neither/);
  assert.match(error(`${'a'.repeat(64)},10.0.3.100`), /is neither/);
  assert.match(error('02:1a:b0:00:00:5,10.0.3.100'), /"02:1a:b0:00:00:5" is neither a MAC address/);
  assert.match(error('id:01:02:03,10.0.3.100'), /reservations by client identifier are not supported: reserve by MAC or host name/);
  assert.match(error('web,10.0.3.100,[fd42::5]'), /a reservation by host name takes no IPv6 address \(IPv6 is reserved by MAC\); write NAME,IP/);
  assert.match(error('web,10.0.3.100,db'), /a reservation by host name takes no third field; write NAME,IP/);
  assert.match(error('web,10.0.3'), /is not MAC,IP.* or NAME,IP/);
  assert.match(error('web'), /is not MAC,IP.* or NAME,IP/);
});

test('a name reservation is checked against the bridge and the refused names like one by MAC', () => {
  assert.match(reservationProblem({ name: 'web', ip: ip('10.0.4.5') }, CONTEXT) ?? '', /outside the bridge subnet 10.0.3.0\/24/);
  assert.match(reservationProblem({ name: 'wpad', ip: ip('10.0.3.5') }, CONTEXT) ?? '', /means something to resolvers/);
  assert.equal(reservationProblem({ name: 'web', ip: ip('10.0.3.5') }, CONTEXT), null);
});

test('conflicts: one address, or one name, for a MAC reservation and a name reservation', () => {
  const byMac = { mac: '00:16:3e:00:00:01', ip: ip('10.0.3.5'), name: 'web' };
  assert.equal(
    checkReservationConflicts([byMac, { name: 'db', ip: ip('10.0.3.5') }]),
    'IP 10.0.3.5 is reserved for both 00:16:3e:00:00:01 and host name db: give each its own address',
  );
  assert.equal(checkReservationConflicts([byMac, { name: 'web', ip: ip('10.0.3.6') }]), 'name web is reserved twice: names must be unique');
  assert.equal(
    checkReservationConflicts([
      { name: 'db', ip: ip('10.0.3.7') },
      { name: 'db', ip: ip('10.0.3.8') },
    ]),
    'name db is reserved twice: names must be unique',
  );
  assert.equal(checkReservationConflicts([byMac, { name: 'db', ip: ip('10.0.3.7') }]), null);
});

test('a hosts file mixes both kinds; split gives the book its two lists', () => {
  const parsed = parseHostsFile('# lxc\n00:16:3e:00:00:01,10.0.3.5,web\nmycontainer,10.0.3.100\nbad_name,10.0.3.9\n', 'h', CONTEXT);
  assert.deepEqual(parsed, {
    ok: false,
    error: 'h:4: "bad_name" is neither a MAC address like 02:1a:b0:00:00:05 nor a host name (one label: letters, digits, hyphens, at most 63)',
  });
  const good = parseHostsFile('00:16:3e:00:00:01,10.0.3.5,web\nmycontainer,10.0.3.100\n', 'h', CONTEXT);
  assert.ok(good.ok);
  assert.deepEqual(splitHostEntries(good.value), {
    byMac: [{ mac: '00:16:3e:00:00:01', ip: ip('10.0.3.5'), name: 'web' }],
    byName: [{ name: 'mycontainer', ip: ip('10.0.3.100') }],
  });
});
