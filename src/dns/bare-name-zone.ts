/**
 * Bare names (`--bare-names`): a container's single-label name (`web`) answered as `web.<domain>` is, the way lxc-net's
 * dnsmasq answers it with an empty LXC_DOMAIN (`dig @10.0.3.1 web` from the host). Two zones at the root, last in
 * LocalZones' order so they never take a name from another zone: `BareNameZone` answers the names of containers and
 * reservations (the lease zone's own answer: A, AAAA, NODATA with the domain's SOA; for every client, as
 * `web.<domain>` is), and `DotlessNameDenial` answers NXDOMAIN to any other single-label A/AAAA/ANY question instead
 * of forwarding it: a dotless name has no public address (RFC 7085, the IAB's dotless-domain statement), so asking
 * upstream only leaks container and typo names (dnsmasq's `domain-needed` does the same). The denial is for trusted
 * clients only: anyone else is REFUSED, as before. Other types (`com NS`, `com DS`, `com DNSKEY`: what a validating
 * resolver asks about a TLD) are not ours and go upstream as before.
 */
import { type ZoneApex, type ZoneQuestion, zoneApex } from './question.ts';
import { Type } from './vocabulary.ts';

/** The root as an apex: a single-label name is one label below it. */
const ROOT: ZoneApex = zoneApex('', Buffer.from([0]));

/** What the bare-name zones ask of the lease zone (zone.ts's LeaseZone has this shape; this file does not import it). */
interface ContainerNames<A> {
  /** The answer `NAME.<domain>` gets for the question's first label, owner as asked; null: no container's name. */
  containerAnswer(q: ZoneQuestion): A | null;
  /** NXDOMAIN with the domain's SOA. */
  noSuchName(): A;
}

/** A single-label question in class IN (or ANY). */
function isBare(q: ZoneQuestion): boolean {
  return !q.otherClass && q.belowApex(ROOT) === 1;
}

/** Containers' names without the domain: answered for every client, as the same names inside `--domain` are. */
export class BareNameZone<A> {
  readonly apex = ROOT;
  readonly trustedOnly = false;

  constructor(private readonly names: ContainerNames<A>) {}

  answer(q: ZoneQuestion): A | null {
    return isBare(q) ? this.names.containerAnswer(q) : null;
  }
}

/** Every other single-label address question: NXDOMAIN to trusted clients (never forwarded), REFUSED to the rest. */
export class DotlessNameDenial<A> {
  readonly apex = ROOT;
  readonly trustedOnly = true;

  constructor(private readonly names: ContainerNames<A>) {}

  answer(q: ZoneQuestion): A | null {
    if (!isBare(q) || (q.type !== Type.A && q.type !== Type.AAAA && q.type !== Type.ANY)) return null;
    return this.names.noSuchName();
  }
}
