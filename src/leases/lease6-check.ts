/**
 * The one check of an IPv6 lease record (lease6.ts), shared by the stores: the SQLite store applies it to every row it
 * loads (the file is input like any other: another program may have written it) and both stores to every row they
 * are asked to write, so a bad record stops a load or a batch with its address named, as for IPv4 leases.
 */
import { canonicalIPv6 } from '../net/address6.ts';
import type { Lease6State, StoredLease6 } from './lease6.ts';
import { macKey } from './mac-key.ts';

const LEASE6_STATES: readonly Lease6State[] = ['bound', 'declined'];

const DUID_HEX = /^(?:[0-9a-f]{2})*$/;
/** RFC 8415 §11.1: a DUID is at most 128 octets (plus its 2-octet type code, which the 130 here includes). */
const MAX_DUID_BYTES = 130;

/** Why `lease` (fields as read from storage, not yet trusted) is not a valid StoredLease6, or null. */
export function lease6Problem(lease: { readonly [K in keyof StoredLease6]: unknown }): string | null {
  const { ip, mac, iaid, duidHex, hostname, state, expiresAt, updatedAt } = lease;
  if (typeof ip !== 'string' || canonicalIPv6(ip) !== ip) return 'ip is not an IPv6 address in RFC 5952 form';
  if (typeof mac !== 'string' || Number.isNaN(macKey(mac)) || mac !== mac.toLowerCase()) return `bad MAC ${JSON.stringify(mac)}`;
  if (typeof iaid !== 'number' || !Number.isInteger(iaid) || iaid < 0 || iaid > 0xffffffff) return 'iaid is not a 32-bit number';
  if (typeof duidHex !== 'string' || !DUID_HEX.test(duidHex) || duidHex.length > 2 * MAX_DUID_BYTES) return 'duid is not lower-case hex of at most 130 bytes';
  if (hostname !== null && typeof hostname !== 'string') return 'hostname is not text';
  if (typeof state !== 'string' || !LEASE6_STATES.includes(state as Lease6State)) return `unknown state ${JSON.stringify(state)}`;
  if (state === 'bound' && mac === '') return 'a bound lease without a MAC';
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return 'expires_at is not a number';
  if (typeof updatedAt !== 'number' || !Number.isFinite(updatedAt)) return 'updated_at is not a number';
  return null;
}

/** Throws, naming the address, when `lease` is not valid. */
export function checkLease6(lease: StoredLease6): void {
  const problem = lease6Problem(lease);
  if (problem !== null) throw new Error(`IPv6 lease ${String(lease.ip)}: ${problem}`);
}
