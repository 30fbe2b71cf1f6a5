// Issue 11: reservations are checked against the bridge before they are served: --host and --hosts-file at start
// (and on SIGHUP), `lxc-dhcpd reserve` through the control socket. Each refusal is one line that names the fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkReservationConflicts,
  formatReservation,
  parseHostsFile,
  parseReservation,
  type Reservation,
  type ReservationContext,
  reservationProblem,
} from '../../../src/config/reservations.ts';
import { parseControlRequest } from '../../../src/control/protocol.ts';
import { unclaimableNames } from '../../../src/leases/names.ts';
import { createLogger } from '../../../src/log.ts';
import { parseIPv4 } from '../../../src/net/address.ts';
import { type ControlDeps, controlHandlers } from '../../../src/operator.ts';

const CONTEXT: ReservationContext = { serverIp: parseIPv4('10.0.0.1') as number, prefixLength: 24, deniedNames: unclaimableNames('lxc') };

function reservation(text: string): Reservation {
  const parsed = parseReservation(text);
  if (!parsed.ok) assert.fail(parsed.error);
  return parsed.value;
}

function problem(text: string): string | null {
  return reservationProblem(reservation(text), CONTEXT);
}

test('an address outside the subnet, the bridge address, the network and the broadcast address are refused', () => {
  assert.equal(problem('02:1a:b0:00:00:05,10.0.1.5'), '10.0.1.5 is outside the bridge subnet 10.0.0.0/24: reserve an address inside it');
  assert.equal(problem('02:1a:b0:00:00:05,10.0.0.1'), "10.0.0.1 is the bridge's own address: reserve another address of 10.0.0.0/24");
  assert.equal(problem('02:1a:b0:00:00:05,10.0.0.0'), '10.0.0.0 is the network address of 10.0.0.0/24, not a host address: reserve another');
  assert.equal(problem('02:1a:b0:00:00:05,10.0.0.255'), '10.0.0.255 is the broadcast address of 10.0.0.0/24, not a host address: reserve another');
  assert.equal(problem('02:1a:b0:00:00:05,10.0.0.5,web'), null);
  assert.equal(problem('02:1a:b0:00:00:05,10.0.0.254'), null);
  const wide: ReservationContext = { ...CONTEXT, prefixLength: 16 };
  assert.equal(reservationProblem(reservation('02:1a:b0:00:00:05,10.0.1.0'), wide), null, '10.0.1.0 is a host address of a /16');
  assert.match(reservationProblem(reservation('02:1a:b0:00:00:05,10.0.255.255'), wide) ?? '', /broadcast address of 10\.0\.0\.0\/16/);
});

test('multicast, broadcast and all-zero MACs are refused when parsed', () => {
  const errorOf = (text: string): string => {
    const parsed = parseReservation(text);
    return parsed.ok ? 'accepted' : parsed.error;
  };
  assert.match(errorOf('01:00:5e:00:00:01,10.0.0.5'), /^01:00:5e:00:00:01 is a multicast or broadcast MAC \(bit 0 of the first octet set\)/);
  assert.match(errorOf('ff:ff:ff:ff:ff:ff,10.0.0.5'), /^ff:ff:ff:ff:ff:ff is a multicast or broadcast MAC/);
  assert.match(errorOf('03:1a:b0:00:00:05,10.0.0.5'), /multicast/);
  assert.equal(errorOf('00:00:00:00:00:00,10.0.0.5'), "00:00:00:00:00:00 is not a usable MAC: give the container's own MAC");
  assert.equal(errorOf('02:1a:b0:00:00:05,10.0.0.5'), 'accepted', 'locally administered unicast');
  assert.equal(errorOf('00:16:3e:00:00:05,10.0.0.5'), 'accepted', 'globally administered unicast (LXC prefix)');
});

test('names with a meaning to resolvers cannot be reserved (localhost, ns, the domain apex...)', () => {
  for (const name of ['localhost', 'ns', 'lxc', 'wpad', 'isatap', 'proxy']) {
    assert.match(
      problem(`02:1a:b0:00:00:05,10.0.0.5,${name}`) ?? '',
      new RegExp(`^name "${name}" means something to resolvers .*: choose another name$`),
      name,
    );
  }
  assert.match(problem('02:1a:b0:00:00:05,10.0.0.5,LocalHost') ?? '', /^name "localhost"/, 'compared lower case');
});

test('a hosts file checked against the bridge names the file and line', () => {
  const text = '# reservations\n02:1a:b0:00:00:05,10.0.0.5,web\n02:1a:b0:00:00:06,192.168.1.6,db\n';
  const parsed = parseHostsFile(text, '/etc/lxc-dhcpd/br0.hosts', CONTEXT);
  assert.deepEqual(parsed, {
    ok: false,
    error: '/etc/lxc-dhcpd/br0.hosts:3: 192.168.1.6 is outside the bridge subnet 10.0.0.0/24: reserve an address inside it',
  });
  assert.equal(parseHostsFile(text, 'f').ok, true, 'without a context only the syntax is checked');
});

test('reserve through the control socket answers an error for each kind of bad reservation and stores nothing', () => {
  const saved: Reservation[] = [];
  const deps = {
    book: { fromConfig: [], byName: [], stored: [] },
    reservationContext: CONTEXT,
    store: { saveReservation: (r: Reservation) => saved.push(r) },
    apply: () => undefined,
    commit: () => undefined,
    log: createLogger('error', () => undefined),
  } as unknown as ControlDeps;
  const handlers = controlHandlers(deps);
  const reserve = (mac: string, ip: string, name?: string): string => {
    const request = parseControlRequest(JSON.stringify({ op: 'reserve', mac, ip, ...(name ? { name } : {}) }));
    if (!request.ok) return request.error;
    assert.equal(request.value.op, 'reserve');
    const result = handlers.reserve((request.value as { reservation: Reservation }).reservation);
    assert.ok(!(result instanceof Promise));
    return result.ok ? 'ok' : result.error;
  };
  assert.match(reserve('02:1a:b0:00:00:05', '10.0.0.0'), /network address/);
  assert.match(reserve('02:1a:b0:00:00:05', '10.0.0.255'), /broadcast address/);
  assert.match(reserve('02:1a:b0:00:00:05', '10.0.0.1'), /bridge's own address/);
  assert.match(reserve('02:1a:b0:00:00:05', '10.9.0.5'), /outside the bridge subnet/);
  assert.match(reserve('01:00:5e:00:00:05', '10.0.0.5'), /^"reserve": 01:00:5e:00:00:05 is a multicast/);
  assert.match(reserve('02:1a:b0:00:00:05', '10.0.0.5', 'localhost'), /means something to resolvers/);
  assert.deepEqual(saved, []);
  assert.equal(reserve('02:1a:b0:00:00:05', '10.0.0.5', 'web'), 'ok');
  assert.equal(saved.length, 1);
});

// Issue 13: a reservation may name an IPv6 address, in brackets as dnsmasq's --dhcp-host=MAC,IP,[IP6],NAME.

const CONTEXT6: ReservationContext = { ...CONTEXT, serverIp6: 'fd42:1:2:3::1' };

test('--host takes an [IP6] field before or after the name, in RFC 5952 form; IPv4-only forms are unchanged', () => {
  assert.deepEqual(reservation('02:1a:b0:00:00:05,10.0.0.5,[FD42:1:2:3:0:0:0:5],web'), {
    mac: '02:1a:b0:00:00:05',
    ip: parseIPv4('10.0.0.5'),
    name: 'web',
    ip6: 'fd42:1:2:3::5',
  });
  assert.deepEqual(reservation('02:1a:b0:00:00:05,10.0.0.5,web,[fd42:1:2:3::5]'), reservation('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::5],web'));
  assert.deepEqual(reservation('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::5]'), {
    mac: '02:1a:b0:00:00:05',
    ip: parseIPv4('10.0.0.5'),
    name: null,
    ip6: 'fd42:1:2:3::5',
  });
  assert.deepEqual(reservation('02:1a:b0:00:00:05,10.0.0.5,web'), { mac: '02:1a:b0:00:00:05', ip: parseIPv4('10.0.0.5'), name: 'web' }, 'no ip6 key at all');
  assert.equal(formatReservation(reservation('02:1a:b0:00:00:05,10.0.0.5,web,[fd42:1:2:3::5]')), '02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::5],web');
});

test('a bad [IP6] field is refused with one line naming the fix', () => {
  const errorOf = (text: string): string => {
    const parsed = parseReservation(text);
    return parsed.ok ? 'accepted' : parsed.error;
  };
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,fd42::5'), /an IPv6 address goes in brackets: \[fd42::5\]/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[fd42::zz]'), /not an IPv6 address in brackets/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[fd42::5'), /not an IPv6 address in brackets/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[::ffff:10.0.0.5]'), /not an IPv6 address in brackets/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[fe80::5]'), /not a unicast address a container can hold/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[ff02::1]'), /not a unicast address/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[::1]'), /not a unicast address/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[fd42::5],[fd42::6]'), /two IPv6 addresses/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,web,www'), /two host names/);
  assert.match(errorOf('02:1a:b0:00:00:05,10.0.0.5,[fd42::5],web,x'), /is not MAC,IP\[,\[IP6\]\]\[,NAME\]/);
});

test('an IPv6 reservation must lie in the bridge /64, not be the bridge address, and needs IPv6 on', () => {
  const check = (text: string, context: ReservationContext): string | null => reservationProblem(reservation(text), context);
  assert.equal(check('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::5]', CONTEXT6), null);
  assert.equal(
    check('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:4::5]', CONTEXT6),
    "fd42:1:2:4::5 is outside the bridge's IPv6 /64 (fd42:1:2:3::1/64): reserve an address inside it",
  );
  assert.equal(
    check('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::1]', CONTEXT6),
    "fd42:1:2:3::1 is the bridge's own IPv6 address: reserve another address of its /64",
  );
  assert.match(check('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::5]', { ...CONTEXT, serverIp6: null }) ?? '', /IPv6 is off on this bridge \(--ipv6 none\)/);
  assert.equal(check('02:1a:b0:00:00:05,10.0.0.5,web', { ...CONTEXT, serverIp6: null }), null, 'IPv4-only reservations need no IPv6');
});

test('two reservations of one IPv6 address conflict; a hosts file line may carry [IP6]', () => {
  const a = reservation('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::5]');
  const b = reservation('02:1a:b0:00:00:06,10.0.0.6,[fd42:1:2:3:0::5]');
  assert.equal(checkReservationConflicts([a, b]), 'IP fd42:1:2:3::5 is reserved for both 02:1a:b0:00:00:05 and 02:1a:b0:00:00:06: give each its own address');
  assert.equal(checkReservationConflicts([a, reservation('02:1a:b0:00:00:06,10.0.0.6')]), null);
  const parsed = parseHostsFile('02:1a:b0:00:00:05,10.0.0.5,[fd42:1:2:3::5],web\n02:1a:b0:00:00:06,10.0.0.6,[fd42:9::6]\n', 'h', CONTEXT6);
  assert.deepEqual(parsed, { ok: false, error: "h:2: fd42:9::6 is outside the bridge's IPv6 /64 (fd42:1:2:3::1/64): reserve an address inside it" });
});

test('reserve through the control socket with "ip6": checked, stored with the IPv4 address, a conflict refused', () => {
  const saved: Reservation[] = [];
  const book = { fromConfig: [reservation('02:1a:b0:00:00:09,10.0.0.9,[fd42:1:2:3::9]')], byName: [], stored: [] as Reservation[] };
  const deps = {
    book,
    reservationContext: CONTEXT6,
    store: { saveReservation: (r: Reservation) => saved.push(r) },
    apply: () => undefined,
    commit: () => undefined,
    log: createLogger('error', () => undefined),
  } as unknown as ControlDeps;
  const handlers = controlHandlers(deps);
  const reserve = (fields: Record<string, unknown>): string => {
    const request = parseControlRequest(JSON.stringify({ op: 'reserve', mac: '02:1a:b0:00:00:05', ip: '10.0.0.5', ...fields }));
    if (!request.ok) return request.error;
    const result = handlers.reserve((request.value as { reservation: Reservation }).reservation);
    assert.ok(!(result instanceof Promise));
    return result.ok ? result.message : result.error;
  };
  assert.equal(reserve({ ip6: 7 }), '"reserve": "ip6" must be a string');
  assert.match(reserve({ ip6: 'fd42:1:2:3::zz' }), /^"reserve": "\[fd42:1:2:3::zz\]" is not an IPv6 address/);
  assert.match(reserve({ ip6: 'fd42:1:2:4::5' }), /outside the bridge's IPv6 \/64/);
  assert.match(reserve({ ip6: 'fd42:1:2:3::9' }), /reserved for both 02:1a:b0:00:00:09 and 02:1a:b0:00:00:05/);
  assert.deepEqual(saved, []);
  assert.equal(
    reserve({ ip6: 'fd42:1:2:3:0:0:0:5', name: 'web' }),
    "reserved 10.0.0.5 and fd42:1:2:3::5 for 02:1a:b0:00:00:05 (web); it applies at the client's next DISCOVER (or Solicit)",
  );
  assert.deepEqual(saved, [{ mac: '02:1a:b0:00:00:05', ip: parseIPv4('10.0.0.5'), name: 'web', ip6: 'fd42:1:2:3::5' }]);
  assert.deepEqual(book.stored, saved);
});
