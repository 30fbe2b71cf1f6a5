// Forwarding with a cache: the API src/dns/server.ts uses. See docs/dns-forwarding.md.

export { DnsCache } from './cache.ts';
export type { ForwarderOptions } from './forwarder.ts';
export {
  Forwarder,
  MAX_PENDING_PER_CLIENT,
  MAX_PENDING_UPSTREAM,
  restoreCase,
} from './forwarder.ts';
export type { DnsQuestion } from './question.ts';

export { parseResolvConf, ResolvConfUpstreams, readResolvConf, StaticUpstreams } from './resolv-conf.ts';
export { exchangeOverTcp } from './tcp.ts';
export type { Upstream } from './upstream.ts';
export { formatUpstream, parseUpstream } from './upstream.ts';
