/**
 * Start-up warnings about things on the host that would keep containers from getting their network,
 * as one-line strings. Parsers are pure; runDiagnostics() reads the calling process's namespace.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { formatIPv4, type IPv4 } from '../net/address.ts';
import { listChains } from './nftables.ts';
import { type ChainInfo, familyName, LXC_DHCPD_TABLE, NF_INET_FORWARD, NFPROTO_INET, NFPROTO_IPV4 } from './nftables-messages.ts';

const NF_DROP = 0;

// ---------------------------------------------------------------------------------------------
// Forward chains that drop

/** Base chains on the forward hook of other tables whose policy is drop (Docker's filter FORWARD, ufw...). */
export function forwardDropWarnings(chains: readonly ChainInfo[], bridge: string): string[] {
  const warnings: string[] = [];
  for (const chain of chains) {
    if (chain.hook !== NF_INET_FORWARD || chain.policy !== NF_DROP) continue;
    if (chain.family !== NFPROTO_IPV4 && chain.family !== NFPROTO_INET) continue;
    if (chain.family === NFPROTO_IPV4 && chain.table === LXC_DHCPD_TABLE) continue;
    warnings.push(
      `table ${familyName(chain.family)} ${chain.table} chain ${chain.name} drops forwarded packets by default (policy drop, as Docker and ufw set it): ` +
        `our accept rules cannot override it, so containers on ${bridge} may not reach other networks unless that chain accepts ${bridge}'s traffic`,
    );
  }
  return warnings;
}

/** Legacy (x_tables) iptables tables are invisible to nf_tables: say so when they exist. */
export function legacyIptablesWarning(ipTablesNames: string | null): string | null {
  if (ipTablesNames === null) return null;
  const tables = ipTablesNames.split(/\s+/).filter(Boolean);
  if (!tables.includes('filter')) return null;
  return `legacy iptables tables are loaded (${tables.join(', ')}): lxc-dhcpd cannot read them; check that iptables-legacy -L FORWARD does not drop the bridge's traffic`;
}

// ---------------------------------------------------------------------------------------------
// Sockets on the DHCP and DNS ports

interface ProcNetSocket {
  localAddress: IPv4;
  localPort: number;
  /** Kernel socket state (TCP: 0x0A = LISTEN; UDP: 0x07 = unconnected). */
  state: number;
  inode: number;
}

const TCP_LISTEN = 0x0a;

/**
 * Parses /proc/net/udp or /proc/net/tcp. The kernel prints the address as the hex of the raw
 * network-order u32 read in host order, so on little-endian machines the bytes appear reversed.
 */
export function parseProcNetSockets(text: string, byteOrder: 'LE' | 'BE' = endianness()): ProcNetSocket[] {
  const sockets: ProcNetSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    const inode = fields[9];
    if (local === undefined || state === undefined || inode === undefined) continue;
    const [addressHex, portHex] = local.split(':');
    if (addressHex === undefined || portHex === undefined || addressHex.length !== 8) continue;
    const raw = Buffer.from(addressHex, 'hex');
    const localAddress = byteOrder === 'LE' ? raw.readUInt32LE(0) : raw.readUInt32BE(0);
    sockets.push({ localAddress, localPort: parseInt(portHex, 16), state: parseInt(state, 16), inode: Number(inode) });
  }
  return sockets;
}

export interface SocketOwner {
  pid: number;
  command: string;
}

/** Maps socket inodes to the processes holding them, by reading /proc/PID/fd links ("socket:[INODE]"). */
function socketOwners(inodes: ReadonlySet<number>, procRoot = '/proc'): Map<number, SocketOwner[]> {
  const owners = new Map<number, SocketOwner[]>();
  if (inodes.size === 0) return owners;
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${entry}/fd`);
    } catch {
      continue; // process gone or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${procRoot}/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (!match) continue;
      const inode = Number(match[1]);
      if (!inodes.has(inode)) continue;
      let command = '?';
      try {
        command = readFileSync(`${procRoot}/${entry}/comm`, 'utf8').trim();
      } catch {
        // keep '?'
      }
      const list = owners.get(inode) ?? [];
      if (!list.some((owner) => owner.pid === Number(entry))) list.push({ pid: Number(entry), command });
      owners.set(inode, list);
    }
  }
  return owners;
}

interface PortConflict {
  protocol: 'udp' | 'tcp';
  port: number;
  localAddress: IPv4;
  owners: SocketOwner[];
}

/** Sockets on UDP 67, UDP 53 or listening TCP 53 bound to the bridge address or to any address. */
export function findPortConflicts(
  udp: readonly ProcNetSocket[],
  tcp: readonly ProcNetSocket[],
  bridgeAddress: IPv4,
  ownersOf: (inodes: ReadonlySet<number>) => Map<number, SocketOwner[]>,
  excludePids: ReadonlySet<number>,
): PortConflict[] {
  const relevant = (socket: ProcNetSocket): boolean => socket.localAddress === 0 || socket.localAddress === bridgeAddress;
  const candidates: Array<{ protocol: 'udp' | 'tcp'; socket: ProcNetSocket }> = [
    ...udp.filter((s) => (s.localPort === 67 || s.localPort === 53) && relevant(s)).map((socket) => ({ protocol: 'udp' as const, socket })),
    ...tcp.filter((s) => s.localPort === 53 && s.state === TCP_LISTEN && relevant(s)).map((socket) => ({ protocol: 'tcp' as const, socket })),
  ];
  const owners = ownersOf(new Set(candidates.map((candidate) => candidate.socket.inode)));
  const conflicts: PortConflict[] = [];
  for (const { protocol, socket } of candidates) {
    const socketOwnersList = owners.get(socket.inode) ?? [];
    if (socketOwnersList.length > 0 && socketOwnersList.every((owner) => excludePids.has(owner.pid))) continue;
    conflicts.push({ protocol, port: socket.localPort, localAddress: socket.localAddress, owners: socketOwnersList.filter((o) => !excludePids.has(o.pid)) });
  }
  return conflicts;
}

export function describePortConflict(conflict: PortConflict): string {
  const where = `${conflict.protocol.toUpperCase()} ${conflict.localAddress === 0 ? '0.0.0.0' : formatIPv4(conflict.localAddress)}:${conflict.port}`;
  const who = conflict.owners.length > 0 ? conflict.owners.map((owner) => `${owner.command} (pid ${owner.pid})`).join(', ') : 'a process we cannot identify';
  const what =
    conflict.port === 67
      ? 'another DHCP server (e.g. dnsmasq from lxc-net) may answer the containers too'
      : 'DNS queries from the containers may reach it instead of lxc-dhcpd';
  return `${who} holds ${where}: ${what}; stop it or move it off this address`;
}

// ---------------------------------------------------------------------------------------------
// Default route

interface ProcRoute {
  iface: string;
  destination: IPv4;
  gateway: IPv4;
  mask: IPv4;
  flags: number;
}

const RTF_UP = 0x1;

/** Parses /proc/net/route (addresses printed like /proc/net/udp's, see parseProcNetSockets). */
export function parseProcNetRoute(text: string, byteOrder: 'LE' | 'BE' = endianness()): ProcRoute[] {
  const readAddress = (hex: string): IPv4 => {
    const raw = Buffer.from(hex, 'hex');
    return byteOrder === 'LE' ? raw.readUInt32LE(0) : raw.readUInt32BE(0);
  };
  const routes: ProcRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [iface, destination, gateway, flags] = fields;
    const mask = fields[7];
    if (iface === undefined || destination === undefined || gateway === undefined || flags === undefined || mask === undefined) continue;
    if (destination.length !== 8 || gateway.length !== 8 || mask.length !== 8) continue;
    routes.push({ iface, destination: readAddress(destination), gateway: readAddress(gateway), mask: readAddress(mask), flags: parseInt(flags, 16) });
  }
  return routes;
}

/** Interfaces carrying an IPv4 default route in the main table. */
export function defaultRouteInterfaces(routes: readonly ProcRoute[]): string[] {
  return routes.filter((route) => route.destination === 0 && route.mask === 0 && (route.flags & RTF_UP) !== 0).map((route) => route.iface);
}

export function defaultRouteWarning(routes: readonly ProcRoute[], uplink?: string): string | null {
  const interfaces = defaultRouteInterfaces(routes);
  if (uplink === undefined) {
    return interfaces.length === 0 ? 'there is no IPv4 default route: containers will reach only the bridge subnet and directly connected networks' : null;
  }
  if (interfaces.includes(uplink)) return null;
  const elsewhere = interfaces.length > 0 ? ` (the default route goes through ${interfaces.join(', ')})` : ' (there is no IPv4 default route at all)';
  return `the uplink ${uplink} has no IPv4 default route${elsewhere}: masqueraded traffic leaving through ${uplink} only reaches its directly connected networks`;
}

// ---------------------------------------------------------------------------------------------

interface DiagnosticsOptions {
  bridge: string;
  bridgeAddress: IPv4;
  uplink?: string;
  /** Processes whose sockets are expected (default: this process). */
  excludePids?: readonly number[];
}

function readOptional(path: string): string | null {
  try {
    return existsSync(path) ? readFileSync(path, 'utf8') : null;
  } catch {
    return null;
  }
}

/** All warnings for the calling process's network namespace; a check that cannot run becomes a warning too. */
export async function runDiagnostics(options: DiagnosticsOptions): Promise<string[]> {
  const warnings: string[] = [];
  try {
    warnings.push(...forwardDropWarnings(await listChains(), options.bridge));
  } catch (error) {
    warnings.push(`could not list nf_tables chains to look for forward chains that drop: ${error instanceof Error ? error.message : String(error)}`);
  }
  const legacy = legacyIptablesWarning(readOptional('/proc/net/ip_tables_names'));
  if (legacy !== null) warnings.push(legacy);
  const udp = parseProcNetSockets(readOptional('/proc/net/udp') ?? '');
  const tcp = parseProcNetSockets(readOptional('/proc/net/tcp') ?? '');
  const exclude = new Set(options.excludePids ?? [process.pid]);
  for (const conflict of findPortConflicts(udp, tcp, options.bridgeAddress, (inodes) => socketOwners(inodes), exclude)) {
    warnings.push(describePortConflict(conflict));
  }
  const route = defaultRouteWarning(parseProcNetRoute(readOptional('/proc/net/route') ?? ''), options.uplink);
  if (route !== null) warnings.push(route);
  return warnings;
}
