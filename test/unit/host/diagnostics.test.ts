import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultRouteInterfaces,
  defaultRouteWarning,
  describePortConflict,
  findPortConflicts,
  forwardDropWarnings,
  legacyIptablesWarning,
  parseProcNetRoute,
  parseProcNetSockets,
  type SocketOwner,
} from '../../../src/host/diagnostics.ts';
import { NF_INET_FORWARD, NF_INET_LOCAL_IN, NFPROTO_BRIDGE, NFPROTO_INET, NFPROTO_IPV4 } from '../../../src/host/nftables-messages.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (text: string): number => parseIPv4(text) ?? assert.fail(`bad address ${text}`);

// Shaped like the kernel's output on a little-endian machine (addresses byte-reversed).
const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 45678 2 0000000000000000 0
  124: 0100000A:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 45679 2 0000000000000000 0
  125: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 45680 2 0000000000000000 0
  126: 0100000A:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 45681 2 0000000000000000 0
`;
const PROC_NET_TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50001 1 0000000000000000 100 0 0 10 0
   1: 0100000A:0035 3200000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 50002 1 0000000000000000 100 0 0 10 0
`;
const PROC_NET_ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wan0\t00000000\t016433C6\t0003\t0\t0\t0\t00000000\t0\t0\t0
wan0\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
lxbr0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

describe('/proc/net/{udp,tcp}', () => {
  it('reads addresses in the byte order the kernel printed them', () => {
    const sockets = parseProcNetSockets(PROC_NET_UDP, 'LE');
    assert.deepEqual(sockets[1], { localAddress: ip('10.0.0.1'), localPort: 53, state: 7, inode: 45679 });
    assert.equal(parseProcNetSockets('header\n  0: 0A000001:0043 00000000:0000 07 0:0 0:0 0 0 0 77\n', 'BE')[0]?.localAddress, ip('10.0.0.1'));
  });

  it('reports UDP 67/53 and listening TCP 53 on the bridge or any address, except our own', () => {
    const owners = new Map<number, SocketOwner[]>([
      [45678, [{ pid: 900, command: 'dnsmasq' }]],
      [45679, [{ pid: 42, command: 'node' }]],
      [50001, [{ pid: 901, command: 'named' }]],
    ]);
    let askedFor: number[] = [];
    const conflicts = findPortConflicts(
      parseProcNetSockets(PROC_NET_UDP, 'LE'),
      parseProcNetSockets(PROC_NET_TCP, 'LE'),
      ip('10.0.0.1'),
      (inodes) => {
        askedFor = [...inodes].sort();
        return owners;
      },
      new Set([42]),
    );
    // 127.0.0.1:53, port 8080 and the established TCP connection are not candidates at all.
    assert.deepEqual(askedFor, [45678, 45679, 50001]);
    assert.deepEqual(conflicts.map(describePortConflict), [
      'dnsmasq (pid 900) holds UDP 0.0.0.0:67: another DHCP server (e.g. dnsmasq from lxc-net) may answer the containers too; stop it or move it off this address',
      'named (pid 901) holds TCP 0.0.0.0:53: DNS queries from the containers may reach it instead of lxc-dhcpd; stop it or move it off this address',
    ]);
  });

  it('a socket whose owner cannot be found is still reported', () => {
    const conflicts = findPortConflicts(parseProcNetSockets(PROC_NET_UDP, 'LE'), [], ip('10.0.0.1'), () => new Map(), new Set());
    assert.equal(conflicts.length, 2);
    assert.match(describePortConflict(conflicts[1] ?? assert.fail()), /^a process we cannot identify holds UDP 10\.0\.0\.1:53/);
  });
});

describe('forward chains that drop', () => {
  it('warns about other ip/inet tables with a forward chain whose policy is drop', () => {
    const warnings = forwardDropWarnings(
      [
        { family: NFPROTO_IPV4, table: 'filter', name: 'FORWARD', hook: NF_INET_FORWARD, priority: 0, policy: 0, type: 'filter' },
        { family: NFPROTO_INET, table: 'firewalld', name: 'filter_FORWARD', hook: NF_INET_FORWARD, priority: 10, policy: 0 },
        { family: NFPROTO_IPV4, table: 'lxc-dhcpd', name: 'forward', hook: NF_INET_FORWARD, priority: 0, policy: 0 },
        { family: NFPROTO_IPV4, table: 'filter', name: 'INPUT', hook: NF_INET_LOCAL_IN, priority: 0, policy: 0 },
        { family: NFPROTO_IPV4, table: 'other', name: 'fw', hook: NF_INET_FORWARD, priority: 0, policy: 1 },
        { family: NFPROTO_BRIDGE, table: 'br', name: 'fw', hook: NF_INET_FORWARD, priority: 0, policy: 0 },
        { family: NFPROTO_IPV4, table: 'filter', name: 'DOCKER' },
      ],
      'lxbr0',
    );
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? '', /^table ip filter chain FORWARD drops forwarded packets by default .* containers on lxbr0/);
    assert.match(warnings[1] ?? '', /^table inet firewalld chain filter_FORWARD/);
  });

  it('mentions legacy iptables only when its filter table is loaded', () => {
    assert.equal(legacyIptablesWarning(null), null);
    assert.equal(legacyIptablesWarning('nat\n'), null);
    assert.match(legacyIptablesWarning('filter\nnat\n') ?? '', /legacy iptables tables are loaded \(filter, nat\)/);
  });
});

describe('default route', () => {
  const routes = parseProcNetRoute(PROC_NET_ROUTE, 'LE');

  it('parses /proc/net/route', () => {
    assert.deepEqual(routes[0], { iface: 'wan0', destination: 0, gateway: ip('198.51.100.1'), mask: 0, flags: 3 });
    assert.equal(routes[2]?.destination, ip('10.0.0.0'));
    assert.deepEqual(defaultRouteInterfaces(routes), ['wan0']);
  });

  it('warns when the uplink (or, without one, nothing) carries the default route', () => {
    assert.equal(defaultRouteWarning(routes, 'wan0'), null);
    assert.equal(defaultRouteWarning(routes), null);
    assert.match(defaultRouteWarning(routes, 'eth1') ?? '', /^the uplink eth1 has no IPv4 default route \(the default route goes through wan0\)/);
    assert.match(defaultRouteWarning([]) ?? '', /^there is no IPv4 default route/);
    assert.match(defaultRouteWarning([], 'eth1') ?? '', /there is no IPv4 default route at all/);
  });
});
