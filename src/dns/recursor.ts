/** Joins the DNS server to forwarding: upstreams from --upstream or resolv.conf, answers cached (src/dns/forward/). */
import type { Answer } from 'dns-packet';
import { DnsCache, type WireCacheHit } from './forward/cache.ts';
import type { ClientQueryFlags } from './forward/question.ts';
import { Forwarder } from './forward/forwarder.ts';
import { ResolvConfUpstreams, StaticUpstreams } from './forward/resolv-conf.ts';
import type { Upstream } from './forward/upstream.ts';
import type { RecordType } from 'dns-packet';
import type { Question } from './message.ts';
import type { Recursor, RecursionResult } from './server.ts';

const RCODE_NUMBERS: Record<string, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
};

const NO_FLAGS: ClientQueryFlags = Object.freeze({});
const CHECKING_DISABLED: ClientQueryFlags = Object.freeze({ checkingDisabled: true });

export interface RecursorOptions {
  /** From --upstream; when empty, the nameservers of `resolvConf` are used. */
  upstreams: readonly Upstream[];
  resolvConf: string;
  /** Our own addresses: never forwarded to (that would loop). */
  ignore: readonly string[];
  cacheEntries?: number;
  /** Told about cache hits and misses, upstream round trips and failures (metrics). */
  observer?: RecursorObserver;
}

export interface RecursorObserver {
  cacheHit(): void;
  cacheMiss(): void;
  upstreamLatency(seconds: number): void;
  upstreamError(kind: string): void;
}

export class ForwardingRecursor implements Recursor {
  readonly cache: DnsCache;
  readonly forwarder: Forwarder;
  private readonly observer: RecursorObserver | undefined;

  constructor(o: RecursorOptions) {
    this.observer = o.observer;
    this.cache = new DnsCache({ maxEntries: o.cacheEntries ?? 10_000 });
    const source =
      o.upstreams.length > 0 ? new StaticUpstreams(o.upstreams) : new ResolvConfUpstreams({ path: o.resolvConf, ignore: o.ignore });
    this.forwarder = new Forwarder({ upstreams: source, cache: this.cache });
  }

  async resolve(question: Question, opts: { checkingDisabled: boolean; dnssecOk: boolean; client: string }): Promise<RecursionResult> {
    const started = process.hrtime.bigint();
    const result = await this.forwarder.resolve(
      { name: question.name, type: question.type as RecordType, class: question.class ?? 'IN' },
      { checkingDisabled: opts.checkingDisabled },
    );
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
      rcode: RCODE_NUMBERS[answer.rcode] ?? 2,
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
      { checkingDisabled: opts.checkingDisabled },
    );
    if (hit === undefined) return null;
    this.observer?.cacheHit();
    return {
      ok: true,
      rcode: RCODE_NUMBERS[hit.rcode] ?? 2,
      answers: hit.answers as Answer[],
      authorities: hit.authorities as Answer[],
      additionals: hit.additionals as Answer[],
      source: 'cache',
    };
  }

  cachedWire(wireKey: string, now: number, checkingDisabled: boolean, dnssecOk: boolean, maxBytes: number): WireCacheHit | null {
    void dnssecOk; // the cache does not key on DO yet (src/dns/forward/ rewrite)
    const hit = this.cache.getWire(wireKey, now, checkingDisabled ? CHECKING_DISABLED : NO_FLAGS, maxBytes);
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
