/**
 * What an operator talks to while the daemon runs: the root-only control socket (leases, release, reserve,
 * unreserve), the Prometheus endpoint and the dnsmasq-format lease file. Reservations made at run time are kept in
 * the lease database and merged with --host/--hosts-file ones (those win and cannot be removed from here).
 */

import type { ClusterReport } from './cluster/report.ts';
import {
  checkReservationConflicts,
  formatReservation,
  type NameReservation,
  type OperatorTarget,
  type Reservation,
  type ReservationContext,
  reservationProblem,
} from './config/reservations.ts';
import type { ControlResult } from './control/protocol.ts';
import type { ControlHandlers } from './control/server.ts';
import type { DhcpServer } from './dhcp/server.ts';
import { formatLeaseEvent } from './dhcp/transport.ts';
import type { StoredLease6 } from './leases/lease6.ts';
import { type LearnedAddress, leaseRows } from './leases/report.ts';
import type { LeaseStore } from './leases/store.ts';
import type { LeaseTable } from './leases/table.ts';
import type { Logger } from './log.ts';
import { formatIPv4 } from './net/address.ts';

export interface ReservationBook {
  /** --host and --hosts-file reservations (re-read on SIGHUP). */
  fromConfig: Reservation[];
  /** --host NAME,IP reservations by host name (re-read on SIGHUP); `reserve` makes none. */
  byName: NameReservation[];
  /** Made with `lxc-dhcpd reserve`, stored in the lease database. */
  stored: Reservation[];
}

/**
 * The reservations in force: configuration first; a stored one that now conflicts with it, or no longer fits the
 * bridge (another subnet, a name now refused), is skipped (and logged).
 */
export function effectiveReservations(book: ReservationBook, log: Logger, context: ReservationContext): Reservation[] {
  const out = [...book.fromConfig];
  for (const r of book.stored) {
    const conflict = reservationProblem(r, context) ?? checkReservationConflicts([...out, ...book.byName, r]);
    if (conflict === null) out.push(r);
    else log.warn(`stored reservation ${formatReservation(r)} ignored: ${conflict}`);
  }
  return out;
}

export interface ControlDeps {
  server: DhcpServer;
  leases: LeaseTable;
  store: LeaseStore;
  book: ReservationBook;
  /** The bridge subnet and refused names every reservation is checked against. */
  reservationContext: ReservationContext;
  /** Applies the current book to the DHCP server (and DNS names). */
  apply: () => void;
  /** Commits staged lease changes (and refreshes the lease file / metrics). */
  commit: () => void;
  log: Logger;
  /** The DHCPv6 lease records (any state; the active ones are shown). Absent: no DHCPv6. */
  leases6?: () => Iterable<StoredLease6>;
  /** The containers' IPv6 addresses learned from the bridge's neighbour table. Absent: IPv6 off. */
  learned6?: () => readonly LearnedAddress[];
  /** The cluster view for `lxc-dhcpd cluster`. Absent: no --cluster-etcd. */
  cluster?: () => ClusterReport;
}

function describe(target: OperatorTarget): string {
  return target.kind === 'mac' ? target.mac : target.kind === 'ip' ? formatIPv4(target.ip) : target.name;
}

function matches(r: Reservation, target: OperatorTarget): boolean {
  return target.kind === 'mac' ? r.mac === target.mac : target.kind === 'ip' ? r.ip === target.ip : r.name === target.name;
}

export function controlHandlers(d: ControlDeps): ControlHandlers {
  return {
    ...(d.cluster ? { cluster: d.cluster } : {}),
    leases: () =>
      leaseRows(
        [...d.leases.active()],
        d.leases6?.() ?? [],
        d.learned6?.() ?? [],
        Date.now(),
        new Set(effectiveReservations(d.book, d.log, d.reservationContext).map((r) => r.mac)),
      ),
    release(target): ControlResult {
      const result = d.server.adminRelease(target);
      if (!result.ok) return result;
      d.commit();
      d.log.info(formatLeaseEvent(result.event));
      return {
        ok: true,
        message: `released ${formatIPv4(result.lease.ip)} of ${result.lease.mac}${result.lease.hostname ? ` (${result.lease.hostname})` : ''}`,
      };
    },
    reserve(r): ControlResult {
      const problem = reservationProblem(r, d.reservationContext);
      if (problem !== null) return { ok: false, error: problem };
      if (d.book.fromConfig.some((c) => c.mac === r.mac)) {
        return { ok: false, error: `${r.mac} has a reservation in --host/--hosts-file: change it there` };
      }
      const others = d.book.stored.filter((s) => s.mac !== r.mac);
      const conflict = checkReservationConflicts([...d.book.fromConfig, ...d.book.byName, ...others, r]);
      if (conflict !== null) return { ok: false, error: conflict };
      d.store.saveReservation(r);
      d.book.stored = [...others, r];
      d.apply();
      const addresses = `${formatIPv4(r.ip)}${r.ip6 === undefined ? '' : ` and ${r.ip6}`}`;
      d.log.info(`reserved ${addresses} for ${r.mac}${r.name ? ` as ${r.name}` : ''}`);
      return { ok: true, message: `reserved ${addresses} for ${r.mac}${r.name ? ` (${r.name})` : ''}; it applies at the client's next DISCOVER (or Solicit)` };
    },
    unreserve(target): ControlResult {
      const stored = d.book.stored.find((r) => matches(r, target));
      if (!stored) {
        const configured = d.book.fromConfig.some((r) => matches(r, target));
        return {
          ok: false,
          error: configured ? `${describe(target)} is reserved in --host/--hosts-file: remove it there` : `no reservation for ${describe(target)}`,
        };
      }
      d.store.deleteReservation(stored.mac);
      d.book.stored = d.book.stored.filter((r) => r !== stored);
      d.apply();
      d.log.info(`unreserved ${formatIPv4(stored.ip)} of ${stored.mac}`);
      return { ok: true, message: `removed the reservation of ${formatIPv4(stored.ip)} for ${stored.mac}` };
    },
  };
}
