// Forwarding with a cache: the API src/dns/server.ts uses. See docs/dns-forwarding.md.
export { DnsCache, classifyResponse, negativeTtl } from './cache.ts';
export type { CachedAnswer, CachedKind, DnsCacheOptions, DnsCacheStats } from './cache.ts';
export { Forwarder, buildUpstreamQuery, isEncodableName } from './forwarder.ts';
export type {
  AttemptOutcome,
  FailedAttempt,
  ForwardFailure,
  ForwardFailureKind,
  ForwardResult,
  ForwardSuccess,
  ForwarderOptions,
  ForwarderStats,
  ResolveResult,
} from './forwarder.ts';
export { answerOf, lowerDnsName, questionKey, responseMatchesQuestion, sameDnsName } from './question.ts';
export type { ClientQueryFlags, DnsAnswer, DnsQuestion } from './question.ts';
export { DEFAULT_RESOLV_CONF, ResolvConfUpstreams, StaticUpstreams, parseResolvConf, readResolvConf } from './resolv-conf.ts';
export type { ResolvConfUpstreamsOptions, UpstreamSource } from './resolv-conf.ts';
export { DNS_PORT, canonicalAddress, formatUpstream, parseUpstream, sameUpstream } from './upstream.ts';
export type { Upstream } from './upstream.ts';
