// Forwarding with a cache: the API src/dns/server.ts uses. See docs/dns-forwarding.md.

export type { CachedAnswer, CachedKind, DnsCacheOptions, DnsCacheStats } from './cache.ts';
export { classifyResponse, DEFAULT_CACHE_MAX_BYTES, DnsCache, entryBytes, MAX_CACHEABLE_RESPONSE_BYTES, negativeTtl } from './cache.ts';
export type {
  AttemptOutcome,
  FailedAttempt,
  ForwarderLog,
  ForwarderOptions,
  ForwarderStats,
  ForwardFailure,
  ForwardFailureKind,
  ForwardResult,
  ForwardSuccess,
  LimitKind,
  ResolveResult,
} from './forwarder.ts';
export {
  buildUpstreamQuery,
  CASE_FALLBACK_MS,
  Forwarder,
  isEncodableName,
  MAX_PENDING_PER_CLIENT,
  MAX_PENDING_UPSTREAM,
  MAX_UPSTREAM_SOCKETS,
  MAX_WAITING_QUERIES,
  restoreCase,
  withRandomCase,
} from './forwarder.ts';
export type { ClientQueryFlags, DnsAnswer, DnsQuestion } from './question.ts';
export { answerOf, lowerDnsName, questionKey, responseMatchesQuestion, sameDnsName } from './question.ts';
export type { ResolvConfUpstreamsOptions, UpstreamSource } from './resolv-conf.ts';
export { DEFAULT_RESOLV_CONF, parseResolvConf, ResolvConfUpstreams, readResolvConf, StaticUpstreams } from './resolv-conf.ts';
export { exchangeOverTcp, MAX_TCP_MESSAGE_BYTES } from './tcp.ts';
export type { Upstream } from './upstream.ts';
export { canonicalAddress, DNS_PORT, formatUpstream, parseUpstream, sameUpstream } from './upstream.ts';
