/** Static reservations: `--host MAC,IP[,NAME]` and `--hosts-file FILE` (one per line, `#` comments). */
import { formatIPv4, parseIPv4, parseMac, type IPv4 } from '../net/address.ts';
import type { Checked } from './range.ts';

export interface Reservation {
  mac: string;
  ip: IPv4;
  name: string | null;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

export function parseReservation(text: string): Checked<Reservation> {
  const fields = text.split(',').map((f) => f.trim());
  if (fields.length < 2 || fields.length > 3) {
    return { ok: false, error: `${JSON.stringify(text)} is not MAC,IP[,NAME] (e.g. 02:1a:b0:00:00:05,10.0.0.5,web)` };
  }
  const mac = parseMac(fields[0] as string);
  if (!mac) return { ok: false, error: `${JSON.stringify(fields[0])} is not a MAC address like 02:1a:b0:00:00:05` };
  const ip = parseIPv4(fields[1] as string);
  if (ip === null) return { ok: false, error: `${JSON.stringify(fields[1])} is not an IPv4 address` };
  const name = fields[2] ?? null;
  if (name !== null && !LABEL.test(name)) {
    return { ok: false, error: `${JSON.stringify(name)} is not a host name (letters, digits, hyphens, at most 63)` };
  }
  return { ok: true, value: { mac, ip, name: name === null ? null : name.toLowerCase() } };
}

export function parseHostsFile(text: string, source: string): Checked<Reservation[]> {
  const out: Reservation[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/#.*/, '').trim();
    if (line === '') continue;
    const parsed = parseReservation(line);
    if (!parsed.ok) return { ok: false, error: `${source}:${i + 1}: ${parsed.error}` };
    out.push(parsed.value);
  }
  return { ok: true, value: out };
}

/** Rejects two reservations of one MAC, of one IP, or of one name. */
export function checkReservationConflicts(list: readonly Reservation[]): string | null {
  const macs = new Map<string, Reservation>();
  const ips = new Map<IPv4, Reservation>();
  const names = new Map<string, Reservation>();
  for (const r of list) {
    if (macs.has(r.mac)) return `MAC ${r.mac} is reserved twice: keep one reservation per MAC`;
    const other = ips.get(r.ip);
    if (other) return `IP ${formatIPv4(r.ip)} is reserved for both ${other.mac} and ${r.mac}: give each its own address`;
    if (r.name !== null && names.has(r.name)) return `name ${r.name} is reserved twice: names must be unique`;
    macs.set(r.mac, r);
    ips.set(r.ip, r);
    if (r.name !== null) names.set(r.name, r);
  }
  return null;
}
