// Issue 11: reservations are checked against the bridge before they are served: --host and --hosts-file at start
// (and on SIGHUP), `lxc-dhcpd reserve` through the control socket. Each refusal is one line that names the fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHostsFile, parseReservation, type Reservation, type ReservationContext, reservationProblem } from '../../../src/config/reservations.ts';
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
    book: { fromConfig: [], stored: [] },
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
