// Forwarding with a cache: the API src/dns/server.ts uses. See docs/dns-forwarding.md.
export { DEFAULT_CACHE_MAX_BYTES, MAX_CACHEABLE_RESPONSE_BYTES, DnsCache, classifyResponse, entryBytes, negativeTtl } from './cache.ts';
export type { CachedAnswer, CachedKind, DnsCacheOptions, DnsCacheStats } from './cache.ts';
export {
  CASE_FALLBACK_MS,
  Forwarder,
  MAX_PENDING_PER_CLIENT,
  MAX_PENDING_UPSTREAM,
  MAX_UPSTREAM_SOCKETS,
  MAX_WAITING_QUERIES,
  buildUpstreamQuery,
  isEncodableName,
  restoreCase,
  withRandomCase,
} from './forwarder.ts';
export { MAX_TCP_MESSAGE_BYTES, exchangeOverTcp } from './tcp.ts';
export type {
  AttemptOutcome,
  FailedAttempt,
  ForwardFailure,
  ForwardFailureKind,
  ForwardResult,
  ForwardSuccess,
  ForwarderOptions,
  ForwarderLog,
  ForwarderStats,
  LimitKind,
  ResolveResult,
} from './forwarder.ts';
export { answerOf, lowerDnsName, questionKey, responseMatchesQuestion, sameDnsName } from './question.ts';
export type { ClientQueryFlags, DnsAnswer, DnsQuestion } from './question.ts';
export { DEFAULT_RESOLV_CONF, ResolvConfUpstreams, StaticUpstreams, parseResolvConf, readResolvConf } from './resolv-conf.ts';
export type { ResolvConfUpstreamsOptions, UpstreamSource } from './resolv-conf.ts';
export { DNS_PORT, canonicalAddress, formatUpstream, parseUpstream, sameUpstream } from './upstream.ts';
export type { Upstream } from './upstream.ts';
