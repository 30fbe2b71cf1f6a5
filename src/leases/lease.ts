/**
 * The lease record every part of src/leases speaks: `Lease` (one address's record, as handed to callers and staged
 * in a store) and the four states, whose order here gives each state its code in the table and in the stores.
 */
import type { IPv4 } from '../net/address.ts';

export type LeaseState = 'bound' | 'released' | 'expired' | 'declined';

/** In this order: a state's index here is its code in the lease table and in the store's reads. */
export const LEASE_STATES: readonly LeaseState[] = ['bound', 'released', 'expired', 'declined'];

/**
 * One address's record. Records are treated as immutable: every state change produces a new object,
 * so a Lease handed to a caller never changes underneath it.
 */
export interface Lease {
  ip: IPv4;
  /** 'aa:bb:cc:dd:ee:ff'; '' for a declined address with no owner. */
  mac: string;
  clientId: Buffer | null;
  hostname: string | null;
  state: LeaseState;
  /** Unix epoch ms. */
  expiresAt: number;
  /** Unix epoch ms of the last state change. */
  updatedAt: number;
}
