/**
 * The record of one DHCPv6 IA_NA binding (RFC 8415 §6.2) and what a store must do to keep such records: the shape
 * shared by the IPv6 address book (which decides who holds which address) and the stores (SQLite, memory) that make
 * it durable. IPv6 leases live in the same store and the same group commit as IPv4 ones: staging a Lease6 is durable
 * only when the store's next commit()/commitThen() says so, so no DHCPv6 Reply leaves before its binding would
 * survive a crash, as for DHCPv4 ACKs.
 */

/** bound: held by `mac` until expiresAt; declined: on probation after a Decline (RFC 8415 §18.3.8), no owner. */
export type Lease6State = 'bound' | 'declined';

export interface StoredLease6 {
  /** The address, RFC 5952 text (lower case, compressed). One record per address. */
  ip: string;
  /** The owner's MAC (aa:bb:cc:dd:ee:ff), taken from the frame, never from a sender-written field; '' when declined. */
  mac: string;
  /** The IA_NA's IAID (u32). */
  iaid: number;
  /** The client's DUID (option 1) as lower-case hex: shown to the operator and in dnsmasq's lease file only. */
  duidHex: string;
  hostname: string | null;
  state: Lease6State;
  /** Unix epoch ms: the valid lifetime's end (bound) or the probation's end (declined). */
  expiresAt: number;
  /** Unix epoch ms of the last change. */
  updatedAt: number;
}

/**
 * The IPv6 half of a lease store. stage6/stageDelete6 only remember a change; the store's commit()/commitThen() (the
 * LeaseStore contract in store-contract.ts) make IPv4 and IPv6 changes durable together.
 */
export interface Lease6Store {
  /** Every durable IPv6 lease, in address order. */
  loadLeases6(): StoredLease6[];
  stage6(lease: StoredLease6): void;
  stageDelete6(ip: string): void;
}
