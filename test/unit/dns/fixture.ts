/** A DnsServer on 10.0.0.1/24 for zone `lxc` with `test` leased at 10.0.0.100 (and optionally `web` reserved). */

import { type DnsLimits, DnsServer, type Recursor } from '../../../src/dns/server.ts';
import { LocalZones } from '../../../src/dns/zone.ts';
import { HostNames } from '../../../src/leases/names.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

export const ip = (t: string): number => parseIPv4(t) as number;

export interface DnsFixtureOptions {
  now?: number;
  reserveWeb?: boolean;
  /** Where the sockets listen (default 10.0.0.1, never bound by handle()-only tests); 127.0.0.1 for socket tests. */
  listen?: string;
  /** The bridge subnet (default 10.0.0.1/24). */
  subnet?: { ip: string; prefixLength: number };
  limits?: Partial<DnsLimits>;
  hostAddresses?: () => readonly string[];
  clock?: () => number;
  log?: { warn(m: string): void; debug(m: string): void };
}

export function makeDnsServer(recursor: Recursor | null, opts: DnsFixtureOptions = {}): DnsServer {
  const now = opts.now ?? Date.now();
  const subnet = opts.subnet ?? { ip: '10.0.0.1', prefixLength: 24 };
  const names = new HostNames();
  if (opts.reserveWeb) names.setReservations([{ mac: '02:00:00:00:00:05', ip: ip('10.0.0.5'), name: 'web' }]);
  names.claim('02:1a:b0:00:00:01', ip('10.0.0.100'), 'test', now + 3_600_000);
  const zones = new LocalZones({ domain: 'lxc', serverIp: ip(subnet.ip), prefixLength: subnet.prefixLength, soaTtl: 30, recordTtl: 30 }, names, () => now);
  return new DnsServer({
    address: ip(opts.listen ?? '10.0.0.1'),
    port: 0,
    subnet: { ip: ip(subnet.ip), prefixLength: subnet.prefixLength },
    zones,
    recursor,
    log: opts.log ?? { warn: () => undefined, debug: () => undefined },
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.hostAddresses ? { hostAddresses: opts.hostAddresses } : {}),
    ...(opts.clock ? { now: opts.clock } : {}),
  });
}
