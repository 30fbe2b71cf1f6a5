/**
 * The daemon as `lxc-dhcpd --lxc-net FILE` in lxc-net's place, shared by the lxc-net integration tests: Debian 12's
 * /etc/default/lxc-net as the lxc package ships it (pointing at a test LXC_DHCP_CONFILE), and the daemon started in the
 * topology's host namespace inside a private mount namespace whose /var/lib/misc is a test directory, so lxc-net's
 * dnsmasq lease file is read from the test and never from the machine's own /var/lib/misc.
 */
import { join, resolve } from 'node:path';
import { LXC_DHCPD_BIN } from './lxc-dhcpd.ts';
import type { SpawnedProcess, Topology } from './netns.ts';

/** lxc-net's bridge address with Debian's defaults (LXC_ADDR). */
export const LXC_NET_SERVER = '10.0.3.1';

/** Debian 12's /etc/default/lxc-net as the lxc package ships it, pointing at a test conf file. */
export function lxcNetFile(confFile: string): string {
  return `USE_LXC_BRIDGE="true"\n\n# Honor system's dnsmasq configuration\nLXC_DHCP_CONFILE=${confFile}\n`;
}

/** Starts `lxc-dhcpd --lxc-net DIR/lxc-net` with its database and control socket in DIR and DIR/misc as /var/lib/misc. */
export function startLxcNetDaemon(topology: Topology, dir: string): SpawnedProcess {
  const argv = [
    'unshare',
    '-m',
    '--propagation',
    'private',
    'sh',
    '-c',
    'mount --bind "$0" /var/lib/misc && exec "$@"',
    join(dir, 'misc'),
    process.execPath,
    resolve(LXC_DHCPD_BIN),
    '--lxc-net',
    join(dir, 'lxc-net'),
    '--lease-db',
    join(dir, 'leases.db'),
    '--control-socket',
    join(dir, 'control.sock'),
    '--log-level',
    'debug',
    '--no-probe',
    '--ipv6',
    'none',
  ];
  return topology.spawn(topology.hostNs, argv);
}
