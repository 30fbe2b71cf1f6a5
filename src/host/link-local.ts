/**
 * The bridge's usable link-local IPv6 address, the source every router advertisement must have (RFC 4861 §4.2), read
 * from /proc/net/if_inet6 of the process's network namespace: one line per address with its interface, scope and
 * flags, so an address still in duplicate address detection (tentative) or whose DAD failed is never chosen (RFC 4862
 * §5.4: a tentative address is not used as a source). The read is cached briefly because RaService asks per RA.
 */
import { readFileSync } from 'node:fs';

const IF_INET6_PATH = '/proc/net/if_inet6';
/** linux/if_addr.h. */
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;
/** RT_SCOPE_LINK as /proc/net/if_inet6 prints it (IPV6_ADDR_LINKLOCAL, 0x20). */
const SCOPE_LINK = 0x20;
/**
 * How long a read answer is reused, in ms: an RS flood costs one small file read a second, and a link-local address
 * that appears after DAD (about a second after the bridge comes up) is seen at most this much later.
 */
export const LINK_LOCAL_CACHE_MS = 1_000;

/** The first link-local address of `ifname` in /proc/net/if_inet6 text that is neither tentative nor failed DAD. */
export function linkLocalFromIfInet6(text: string, ifname: string): Buffer | null {
  for (const line of text.split('\n')) {
    const [hex, , , scope, flags, name] = line.trim().split(/\s+/);
    if (name !== ifname || hex === undefined || !/^[0-9a-f]{32}$/i.test(hex)) continue;
    if (Number.parseInt(scope ?? '', 16) !== SCOPE_LINK) continue;
    if ((Number.parseInt(flags ?? '', 16) & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) !== 0) continue;
    return Buffer.from(hex, 'hex');
  }
  return null;
}

interface LinkLocalSourceOptions {
  /** Monotonic ms clock (tests). */
  now?: () => number;
  /** Reads the if_inet6 text (tests); /proc/net/if_inet6 by default. A read that throws counts as "no address". */
  read?: () => string;
}

/** A `linkLocal()` for RaService: `ifname`'s usable link-local address now, or null, re-read at most once a second. */
export function linkLocalSource(ifname: string, o: LinkLocalSourceOptions = {}): () => Buffer | null {
  const now = o.now ?? (() => performance.now());
  const read = o.read ?? (() => readFileSync(IF_INET6_PATH, 'latin1'));
  let readAt = Number.NEGATIVE_INFINITY;
  let cached: Buffer | null = null;
  return () => {
    const t = now();
    if (t - readAt < LINK_LOCAL_CACHE_MS) return cached;
    readAt = t;
    try {
      cached = linkLocalFromIfInet6(read(), ifname);
    } catch {
      cached = null;
    }
    return cached;
  };
}
