/** Joins the DNS server to forwarding: upstreams from --upstream or resolv.conf, answers cached (src/dns/forward/). */
import type { Answer, RecordType } from 'dns-packet';
import { DnsCache, type WireCacheHit } from './forward/cache.ts';
import { Forwarder, type ForwarderLog } from './forward/forwarder.ts';
import type { ClientQueryFlags } from './forward/question.ts';
import { ResolvConfUpstreams, StaticUpstreams } from './forward/resolv-conf.ts';
import type { Upstream } from './forward/upstream.ts';
import type { Question } from './message.ts';
import type { RecursionResult, Recursor } from './server.ts';
import { Rcode, rcodeNumber } from './vocabulary.ts';

/** The four DO/CD combinations, shared so the hot wire-cache path allocates nothing. */
const FLAGS: readonly ClientQueryFlags[] = [
  Object.freeze({}),
  Object.freeze({ checkingDisabled: true }),
  Object.freeze({ dnssecOk: true }),
  Object.freeze({ dnssecOk: true, checkingDisabled: true }),
];

function flagsOf(checkingDisabled: boolean, dnssecOk: boolean): ClientQueryFlags {
  return FLAGS[(dnssecOk ? 2 : 0) | (checkingDisabled ? 1 : 0)] as ClientQueryFlags;
}

interface RecursorOptions {
  /** From --upstream; when empty, the nameservers of `resolvConf` are used. */
  upstreams: readonly Upstream[];
  resolvConf: string;
  /** Our own addresses: never forwarded to (that would loop). */
  ignore: readonly string[];
  cacheEntries?: number;
  /** Byte budget of the cache (DEFAULT_CACHE_MAX_BYTES). */
  cacheBytes?: number;
  /** Warnings about limits hit and upstreams that change the case of names (rate-limited). */
  log?: ForwarderLog;
  /** Told about cache hits and misses, upstream round trips and failures (metrics). */
  observer?: RecursorObserver;
}

export interface RecursorObserver {
  cacheHit(): void;
  cacheMiss(): void;
  upstreamLatency(seconds: number): void;
  upstreamError(kind: string): void;
}

class ForwardingRecursor implements Recursor {
  readonly cache: DnsCache;
  readonly forwarder: Forwarder;
  private readonly observer: RecursorObserver | undefined;

  constructor(o: RecursorOptions) {
    this.observer = o.observer;
    this.cache = new DnsCache({ maxEntries: o.cacheEntries ?? 10_000, ...(o.cacheBytes !== undefined ? { maxBytes: o.cacheBytes } : {}) });
    const source = o.upstreams.length > 0 ? new StaticUpstreams(o.upstreams) : new ResolvConfUpstreams({ path: o.resolvConf, ignore: o.ignore });
    this.forwarder = new Forwarder({ upstreams: source, cache: this.cache, ...(o.log !== undefined ? { log: o.log } : {}) });
  }

  /** A question beyond a bound on waiting queries fails at once with reason 'limit: ...' (the server answers SERVFAIL). */
  async resolve(question: Question, opts: { checkingDisabled: boolean; dnssecOk: boolean; client: string }): Promise<RecursionResult> {
    const started = process.hrtime.bigint();
    const result = await this.forwarder.resolve(
      { name: question.name, type: question.type as RecordType, class: question.class ?? 'IN' },
      flagsOf(opts.checkingDisabled, opts.dnssecOk),
      opts.client,
    );
    if (!result.ok && result.failure === 'limit') {
      this.observer?.upstreamError('limit');
      return { ok: false, reason: `limit: ${result.limit ?? 'pending'}` };
    }
    if (result.ok && result.source === 'cache') this.observer?.cacheHit();
    else this.observer?.cacheMiss();
    if (result.ok && result.source === 'upstream') this.observer?.upstreamLatency(Number(process.hrtime.bigint() - started) / 1e9);
    if (!result.ok) {
      this.observer?.upstreamError(result.failure);
      const detail = result.attempts.map((a) => `${a.upstream.address}: ${a.outcome}${a.detail ? ` ${a.detail}` : ''}`).join(', ');
      return { ok: false, reason: `${result.failure}${detail ? ` (${detail})` : ''}` };
    }
    const answer = result.answer;
    return {
      ok: true,
      rcode: rcodeNumber(answer.rcode) ?? Rcode.ServFail,
      answers: [...answer.answers] as Answer[],
      authorities: [...answer.authorities] as Answer[],
      additionals: [...answer.additionals] as Answer[],
      source: result.source,
    };
  }

  cached(question: Question, opts: { checkingDisabled: boolean; dnssecOk: boolean }): RecursionResult | null {
    const hit = this.cache.get(
      { name: question.name, type: question.type as RecordType, class: question.class ?? 'IN' },
      Date.now(),
      flagsOf(opts.checkingDisabled, opts.dnssecOk),
    );
    if (hit === undefined) return null;
    this.observer?.cacheHit();
    return {
      ok: true,
      rcode: rcodeNumber(hit.rcode) ?? Rcode.ServFail,
      answers: hit.answers as Answer[],
      authorities: hit.authorities as Answer[],
      additionals: hit.additionals as Answer[],
      source: 'cache',
    };
  }

  cachedWire(wireKey: string, now: number, checkingDisabled: boolean, dnssecOk: boolean, maxBytes: number): WireCacheHit | null {
    const hit = this.cache.getWire(wireKey, now, flagsOf(checkingDisabled, dnssecOk), maxBytes);
    if (hit === undefined) return null;
    this.observer?.cacheHit();
    return hit;
  }

  close(): void {
    void this.forwarder.close();
  }
}

export function createRecursor(o: RecursorOptions): ForwardingRecursor {
  return new ForwardingRecursor(o);
}
