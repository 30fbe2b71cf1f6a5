/**
 * Presenting lease records to an operator (`lxc-dhcpd leases` and the control socket's `leases`): JSON rows with
 * the remaining time and whether each lease is static (reserved) or dynamic, and the text the CLI prints.
 *
 * One array of rows, IPv4 leases first, exactly as before IPv6 existed (no field renamed, none added to them), then
 * the IPv6 rows, which carry `family: 'ipv6'` and a `source`: a DHCPv6 IA_NA lease (with its IAID and the client's
 * DUID) or an address learned from the bridge's neighbour table (SLAAC: no lease, so no expiry: null).
 */
import { formatIPv4 } from '../net/address.ts';
import { compareIPv6 } from '../net/address6.ts';
import type { Lease } from './lease.ts';
import type { StoredLease6 } from './lease6.ts';

export interface LeaseRow {
  mac: string;
  ip: string;
  hostname: string | null;
  state: string;
  /** ISO time; null only for a learned (SLAAC) address, which has no lease. */
  expiresAt: string | null;
  expiresInSeconds: number | null;
  clientId: string | null;
  /** 'static' when the MAC has a reservation. */
  type: 'static' | 'dynamic';
  /** Absent on IPv4 rows (as before IPv6 existed). */
  family?: 'ipv6';
  /** IPv6 rows: a DHCPv6 lease, or an address the container configured itself and the kernel's neighbour table shows. */
  source?: 'dhcpv6' | 'slaac';
  /** DHCPv6 rows: the IA_NA's IAID and the client's DUID (colon-separated hex, as dnsmasq prints it). */
  iaid?: number;
  duid?: string;
}

/** One learned IPv6 address of a container (from the neighbour table; the daemon's learned-address registry). */
export interface LearnedAddress {
  mac: string;
  ip: string;
}

export function leasesAsJson(leases: readonly Lease[], now: number, reservedMacs: ReadonlySet<string> = new Set()): LeaseRow[] {
  return leases.map((l) => ({
    mac: l.mac,
    ip: formatIPv4(l.ip),
    hostname: l.hostname,
    state: l.state === 'bound' && l.expiresAt <= now ? 'expired' : l.state,
    expiresAt: new Date(l.expiresAt).toISOString(),
    expiresInSeconds: Math.max(0, Math.round((l.expiresAt - now) / 1000)),
    clientId: l.clientId ? colonHex(l.clientId.toString('hex')) : null,
    type: reservedMacs.has(l.mac) ? 'static' : 'dynamic',
  }));
}

function colonHex(hex: string): string {
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/** DHCPv6 lease rows, in address order. */
export function leases6AsJson(leases: readonly StoredLease6[], now: number, reservedMacs: ReadonlySet<string> = new Set()): LeaseRow[] {
  return [...leases]
    .sort((a, b) => compareIPv6(a.ip, b.ip))
    .map((l) => ({
      mac: l.mac,
      ip: l.ip,
      hostname: l.hostname,
      state: l.state === 'bound' && l.expiresAt <= now ? 'expired' : l.state,
      expiresAt: new Date(l.expiresAt).toISOString(),
      expiresInSeconds: Math.max(0, Math.round((l.expiresAt - now) / 1000)),
      clientId: null,
      type: reservedMacs.has(l.mac) ? 'static' : 'dynamic',
      family: 'ipv6',
      source: 'dhcpv6',
      iaid: l.iaid,
      duid: colonHex(l.duidHex),
    }));
}

/**
 * Learned (SLAAC) address rows, by MAC then address; `hostnames` names each MAC (its lease's host name) where known.
 * State 'learned', no expiry: the address lasts as long as the container uses it.
 */
function learnedAsJson(
  learned: readonly LearnedAddress[],
  hostnames: ReadonlyMap<string, string | null>,
  reservedMacs: ReadonlySet<string> = new Set(),
): LeaseRow[] {
  return [...learned]
    .sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : compareIPv6(a.ip, b.ip)))
    .map((l) => ({
      mac: l.mac,
      ip: l.ip,
      hostname: hostnames.get(l.mac) ?? null,
      state: 'learned',
      expiresAt: null,
      expiresInSeconds: null,
      clientId: null,
      type: reservedMacs.has(l.mac) ? 'static' : 'dynamic',
      family: 'ipv6',
      source: 'slaac',
    }));
}

/**
 * What `lxc-dhcpd leases` shows while the daemon runs: the active IPv4 leases as before, then the active DHCPv6 leases
 * and the learned addresses, each named by its container's lease host name (IPv4 first) where it has one.
 */
export function leaseRows(
  v4: readonly Lease[],
  v6: Iterable<StoredLease6>,
  learned: readonly LearnedAddress[],
  now: number,
  reserved: ReadonlySet<string>,
): LeaseRow[] {
  const active6 = [...v6].filter((l) => l.state === 'bound' && l.mac !== '' && l.expiresAt > now);
  const hostnames = new Map<string, string | null>();
  for (const l of [...active6, ...v4]) if (l.hostname !== null) hostnames.set(l.mac, l.hostname);
  return [...leasesAsJson(v4, now, reserved), ...leases6AsJson(active6, now, reserved), ...learnedAsJson(learned, hostnames, reserved)];
}

/** Hostnames are printed through JSON escaping when they contain anything but a DNS label's characters. */
function safeText(text: string | null): string {
  if (text === null) return '-';
  return /^[A-Za-z0-9._-]+$/.test(text) ? text : JSON.stringify(text);
}

function table(header: readonly string[], body: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...body.map(line)].join('\n')}\n`;
}

/**
 * The IPv4 table exactly as before IPv6, then, when there are any, the DHCPv6 leases and the learned addresses
 * (grouped by container), each under a one-line title.
 */
export function formatLeaseTable(rows: readonly LeaseRow[]): string {
  const v4 = rows.filter((r) => r.family === undefined);
  const v6 = rows.filter((r) => r.family === 'ipv6' && r.source === 'dhcpv6');
  const learned = rows.filter((r) => r.family === 'ipv6' && r.source === 'slaac');
  const seconds = (r: LeaseRow): string => (r.expiresInSeconds === null ? '-' : `${r.expiresInSeconds}s`);
  let text = table(
    ['MAC', 'IP', 'HOSTNAME', 'STATE', 'EXPIRES IN', 'CLIENT-ID', 'TYPE'],
    v4.map((r) => [r.mac || '-', r.ip, safeText(r.hostname), r.state, seconds(r), r.clientId ?? '-', r.type]),
  );
  if (v6.length > 0) {
    text += `\nIPv6 leases (DHCPv6)\n${table(
      ['MAC', 'IPV6 ADDRESS', 'HOSTNAME', 'STATE', 'EXPIRES IN', 'IAID', 'DUID', 'TYPE'],
      v6.map((r) => [r.mac || '-', r.ip, safeText(r.hostname), r.state, seconds(r), String(r.iaid ?? '-'), r.duid || '-', r.type]),
    )}`;
  }
  if (learned.length > 0) {
    text += `\nIPv6 addresses in use (learned from the neighbour table)\n${table(
      ['MAC', 'HOSTNAME', 'IPV6 ADDRESS'],
      learned.map((r) => [r.mac, safeText(r.hostname), r.ip]),
    )}`;
  }
  return text;
}
