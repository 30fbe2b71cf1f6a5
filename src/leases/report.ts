/**
 * Presenting lease records to an operator (`lxc-dhcpd leases` and the control socket's `leases`): JSON rows with
 * the remaining time and whether each lease is static (reserved) or dynamic, and the text table the CLI prints.
 */
import { formatIPv4 } from '../net/address.ts';
import type { Lease } from './lease.ts';

export interface LeaseRow {
  mac: string;
  ip: string;
  hostname: string | null;
  state: string;
  expiresAt: string;
  expiresInSeconds: number;
  clientId: string | null;
  /** 'static' when the MAC has a reservation. */
  type: 'static' | 'dynamic';
}

export function leasesAsJson(leases: readonly Lease[], now: number, reservedMacs: ReadonlySet<string> = new Set()): LeaseRow[] {
  return leases.map((l) => ({
    mac: l.mac,
    ip: formatIPv4(l.ip),
    hostname: l.hostname,
    state: l.state === 'bound' && l.expiresAt <= now ? 'expired' : l.state,
    expiresAt: new Date(l.expiresAt).toISOString(),
    expiresInSeconds: Math.max(0, Math.round((l.expiresAt - now) / 1000)),
    clientId: l.clientId ? l.clientId.toString('hex').replace(/(..)(?!$)/g, '$1:') : null,
    type: reservedMacs.has(l.mac) ? 'static' : 'dynamic',
  }));
}

/** Hostnames are printed through JSON escaping when they contain anything but a DNS label's characters. */
function safeText(text: string | null): string {
  if (text === null) return '-';
  return /^[A-Za-z0-9._-]+$/.test(text) ? text : JSON.stringify(text);
}

export function formatLeaseTable(rows: readonly LeaseRow[]): string {
  const header = ['MAC', 'IP', 'HOSTNAME', 'STATE', 'EXPIRES IN', 'CLIENT-ID', 'TYPE'];
  const body = rows.map((r) => [r.mac || '-', r.ip, safeText(r.hostname), r.state, `${r.expiresInSeconds}s`, r.clientId ?? '-', r.type]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...body.map(line)].join('\n')}\n`;
}
