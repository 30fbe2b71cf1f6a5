/**
 * The IPv6 name service as the daemon will wire it, standing alone for the dns6 integration test (the daemon's
 * --ipv6 flags land separately): a NeighbourWatcher on the bridge feeding a Learned6 registry, HostNames holding the
 * containers' IPv4 lease names, and a DnsServer answering on the bridge's IPv4 and IPv6 addresses. Run it inside the
 * test's host namespace only (`ip netns exec`): it binds port 53 there and reads that namespace's neighbour table.
 * Argument: JSON { bridge, ipv4, prefixLength, ipv6, names: [{ mac, ip, name }] }. Prints "ready PORT" once
 * listening, then one line per neighbour event and registry change; stops on SIGTERM. With `dumpOnly`, it prints
 * the watcher's initial dump and exits.
 */
import { readFileSync } from 'node:fs';
import { DnsServer } from '../../src/dns/server.ts';
import { LocalZones } from '../../src/dns/zone.ts';
import { NeighbourWatcher, neighbourFeed } from '../../src/host/neighbours.ts';
import { Learned6 } from '../../src/leases/learned6.ts';
import { HostNames } from '../../src/leases/names.ts';
import { parseIPv4 } from '../../src/net/address.ts';
import { formatIPv6, parseIPv6, prefix64 } from '../../src/net/address6.ts';

interface Config {
  bridge: string;
  ipv4: string;
  prefixLength: number;
  ipv6: string;
  names: { mac: string; ip: string; name: string }[];
  /** Only start a watcher, print its initial dump ("dump ADDRESS MAC" lines, then "dumped N") and exit. */
  dumpOnly?: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
if (config.dumpOnly) {
  const bridgeIndex = Number(readFileSync(`/sys/class/net/${config.bridge}/ifindex`, 'utf8'));
  const once = await NeighbourWatcher.start({
    ifindex: () => bridgeIndex,
    onEvent: () => undefined,
    onSnapshot: (present) => {
      for (const e of present) console.log(`dump ${e.address} ${e.mac}`);
      console.log(`dumped ${present.length}`);
    },
  });
  once.close();
  process.exit(0);
}
const v4 = parseIPv4(config.ipv4) as number;
const names = new HostNames();
for (const n of config.names) names.claim(n.mac, parseIPv4(n.ip) as number, n.name, Date.now() + 3_600_000);
const learned = new Learned6({ onChange: (c) => console.log(`learned ${c.kind} ${c.mac} ${c.address} ${c.reason}`) });
const ifindex = Number(readFileSync(`/sys/class/net/${config.bridge}/ifindex`, 'utf8'));
const log = { warn: (m: string) => console.log(`warn ${m}`), debug: () => undefined };
const zones = new LocalZones(
  { domain: 'lxc', serverIp: v4, prefixLength: config.prefixLength, soaTtl: 30, recordTtl: 30, ipv6: { serverIp: config.ipv6, addresses: learned } },
  names,
);
const dns = new DnsServer({
  address: v4,
  port: 53,
  subnet: { ip: v4, prefixLength: config.prefixLength },
  zones,
  recursor: null,
  log,
  moreAddresses: [config.ipv6],
  moreTrusted: [`${formatIPv6(prefix64(parseIPv6(config.ipv6) as Buffer))}/64`],
  linkLocalInterface: config.bridge,
});
const feed = neighbourFeed(learned);
const watcher = await NeighbourWatcher.start({
  ifindex: () => ifindex,
  onSnapshot: (present) => {
    console.log(`snapshot ${present.length}`);
    feed.onSnapshot(present);
  },
  onEvent: (e) => {
    console.log(`neighbour ${e.change} ${e.address} ${e.mac ?? '-'}`);
    feed.onEvent(e);
  },
  onError: (e) => console.log(`error ${e.message}`),
});
await dns.listen();
console.log(`ready ${dns.port}`);
const sweep = setInterval(() => learned.sweep(), 1000);
process.on('SIGTERM', () => {
  clearInterval(sweep);
  watcher.close();
  dns.close();
  process.exit(0);
});
