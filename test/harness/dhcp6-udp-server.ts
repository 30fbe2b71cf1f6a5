/**
 * A TEST-ONLY way to put the DHCPv6 server in front of real clients before the daemon wires it to the packet socket:
 * a kernel UDP socket on [::]:547 in a test namespace, joined to ff02::1:2 on the bridge, feeding Dhcp6Server.handle
 * and sending its replies back to port 546. Two shortcuts the daemon must not take: the "frame source MAC" is read
 * back from the client's EUI-64 link-local source address (the kernel socket hides the Ethernet header), and every
 * message is taken as multicast. Bindings are committed to an in-memory store before each reply, as the contract
 * requires. Run as: node --import tsx dhcp6-udp-server.ts BRIDGE BRIDGE_MAC BRIDGE_ADDRESS [FIRST-LAST]
 * It prints "ready" once listening and one JSON line per decision.
 */
import { createSocket } from 'node:dgram';
import { serverDuidFromMac } from '../../src/dhcp6/duid.ts';
import { Dhcp6Server } from '../../src/dhcp6/server.ts';
import { ALL_DHCP_AGENTS, CLIENT_PORT, SERVER_PORT } from '../../src/dhcp6/vocabulary.ts';
import { Address6Book } from '../../src/leases/address6-book.ts';
import { ipv6ToBytes, parseIPv6 } from '../../src/leases/ipv6-number.ts';
import type { Lease6Store, StoredLease6 } from '../../src/leases/lease6.ts';

const [bridge, bridgeMac, bridgeAddress, range] = process.argv.slice(2) as [string, string, string, string | undefined];

const leases = new Map<string, StoredLease6>();
const store: Lease6Store = {
  loadLeases6: () => [...leases.values()],
  stage6: (l) => void leases.set(l.ip, l),
  stageDelete6: (ip) => void leases.delete(ip),
};
const [first, last] = range === undefined ? [] : (range.split('-') as [string, string]);
const book = first === undefined || last === undefined ? null : new Address6Book({ range: { first, last }, store, now: Date.now });
const server = new Dhcp6Server({ serverDuid: serverDuidFromMac(bridgeMac), bridgeAddress, domain: 'lxc', leaseSeconds: 3600, rapidCommit: true, book });

/** The MAC inside an EUI-64 interface identifier (RFC 4291 appendix A): test shim only. */
function macOfLinkLocal(ip: string): string {
  const iid = ipv6ToBytes(parseIPv6(ip.split('%')[0] as string) ?? 0n).subarray(8);
  const mac = [(iid[0] as number) ^ 2, iid[1], iid[2], iid[5], iid[6], iid[7]] as number[];
  return mac.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const socket = createSocket({ type: 'udp6', reuseAddr: true });
socket.on('message', (payload, rinfo) => {
  const srcIp = rinfo.address.split('%')[0] as string;
  const d = server.handle(payload, { srcMac: macOfLinkLocal(srcIp), srcIp, multicast: true });
  if (d.kind === 'reply') {
    socket.send(d.payload, CLIENT_PORT, `${srcIp}%${bridge}`);
    console.log(JSON.stringify({ kind: 'reply', type: d.messageType, commit: d.commit, events: d.events }));
  } else {
    console.log(JSON.stringify(d));
  }
});
socket.bind(SERVER_PORT, '::', () => {
  socket.addMembership(ALL_DHCP_AGENTS, `::%${bridge}`);
  console.log('ready');
});
