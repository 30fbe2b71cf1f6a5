// The router-advertisement side of bench/ra-latency.ts's target "service": RaService and Ipv6Port for one bridge, alone
// in a process of their own, so the probe client's event loop is not the server's. Started by the bench inside the
// bench's host namespace (ip netns exec NS ...), never anywhere else; it needs the bridge's link-local address (from
// /proc/net/if_inet6 of that namespace, as the daemon reads it). Prints "ready" once it can answer, and its counters as
// one JSON line when it gets SIGTERM or SIGINT.
//
//   ip netns exec NS node --import tsx bench/ra-server.ts BRIDGE PREFIX_ADDRESS

import { linkLocalSource } from '../src/host/link-local.ts';
import { createLogger, RateLimitedCounter } from '../src/log.ts';
import { parseIPv6 } from '../src/net/address6.ts';
import { RaService } from '../src/ra/service.ts';
import { Ipv6Port } from '../src/wire/ipv6-port.ts';

/** How long to wait for the bridge's link-local address (DAD takes about a second) before giving up. */
const LINK_LOCAL_WAIT_MS = 10_000;

const [bridge, prefixText] = process.argv.slice(2);
const prefix = parseIPv6(prefixText ?? '');
if (bridge === undefined || prefix === null) {
  process.stderr.write('usage: ra-server.ts BRIDGE PREFIX_ADDRESS (e.g. br0 fd00:db8:1::1)\n');
  process.exit(2);
}

const log = createLogger('warn');
const drops = new RateLimitedCounter();
const linkLocal = linkLocalSource(bridge);
const dropped: Record<string, number> = {};
/** DHCPv6 datagrams the port received (perfdhcp -6 load reaches the socket; nothing answers them here). */
let dhcp6Frames = 0;
const holder: { service: RaService | null } = { service: null };
const port = new Ipv6Port({
  bridge,
  onRouterSolicitation: (packet, from) => holder.service?.handleSolicitation(packet, from),
  onDhcp6: () => {
    dhcp6Frames++;
  },
  drops,
  log,
  onDrop: (reason) => {
    dropped[reason] = (dropped[reason] ?? 0) + 1;
  },
});
const service = new RaService({
  config: { prefix, mtu: port.mtu, dnsServers: [prefix], domains: ['lxc'], mode: 'stateless' },
  mac: () => port.mac,
  linkLocal,
  send: (frame) => port.send(frame),
  log,
  drops,
});
holder.service = service;

const deadline = Date.now() + LINK_LOCAL_WAIT_MS;
while (linkLocal() === null) {
  if (Date.now() > deadline) {
    process.stderr.write(`no link-local address on ${bridge} within ${LINK_LOCAL_WAIT_MS} ms\n`);
    port.close();
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
service.start();
process.stdout.write('ready\n');

const stop = (): void => {
  service.close();
  port.close();
  process.stdout.write(`${JSON.stringify({ counters: service.counters, dhcp6Frames, portDrops: dropped })}\n`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
