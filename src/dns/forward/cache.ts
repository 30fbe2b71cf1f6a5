// Answer cache for forwarded queries: positive and negative (RFC 2308) answers, LRU-bounded by count and by bytes,
// handed out with TTLs reduced by the time they spent here.
import type { Answer, DecodedPacket } from 'dns-packet';
import { encodeRecordInto } from '../message.ts';
import { rcodeNumber } from '../vocabulary.ts';
import { type WireRecords, wireQuestionKey } from '../wire-name.ts';
import { answerOf, type ClientQueryFlags, type DnsAnswer, type DnsQuestion, questionKey } from './question.ts';

const DEFAULT_CACHE_MAX_ENTRIES = 10_000;
/**
 * Memory for the whole cache: the records as objects plus their wire form, estimated per entry (entryBytes). A
 * typical answer (a CNAME and two A records) measured 1 186 bytes a entry as objects (heapUsed + arrayBuffers over
 * 10 000 entries; estimated 1 179) and ~600 more once its wire form is built: the 10 000-entry default fits in
 * 20 MiB, while a cache of 4 KB DNSSEC answers stops at ~2 000 entries instead of growing to gigabytes (issue 11: 60 KB
 * answers cost ~190 KB each, ~2 GB at 10 000 entries).
 */
const DEFAULT_CACHE_MAX_BYTES = 20 * 1024 * 1024;
/**
 * Upstream answers larger than this (bytes on the wire) are passed on but not cached. Every UDP answer fits (we
 * advertise 1232); bigger ones came over TCP, are rare (large TXT/DNSKEY sets, ANY) and would let one client fill the
 * byte budget with a few names. 4096 is the EDNS size BIND used to advertise by default.
 */
const MAX_CACHEABLE_RESPONSE_BYTES = 4096;
/** Map slots in both indexes, the key strings and the entry object (calibrated against the measurement above). */
const ENTRY_OVERHEAD_BYTES = 400;
/** A decoded record object (name, type, class, ttl, data slots). */
const RECORD_OVERHEAD_BYTES = 120;
/** A Buffer object on top of its bytes (the JS object and its own ArrayBuffer). */
const BUFFER_OVERHEAD_BYTES = 160;
/** One day: an upstream's week-long TTL must not pin a record here after it changes. */
const DEFAULT_MAX_TTL_SECONDS = 86_400;
/** RFC 2308 section 5 suggests one to three hours as the longest negative caching. */
const DEFAULT_MAX_NEGATIVE_TTL_SECONDS = 3_600;

interface DnsCacheOptions {
  maxEntries?: number;
  maxTtlSeconds?: number;
  maxNegativeTtlSeconds?: number;
  /**
   * Answers whose TTL is below this are kept this long instead. Default 0: a TTL of 0 means "do
   * not cache" and is obeyed (bursts of the same question are still merged by the forwarder).
   */
  minTtlSeconds?: number;
  /** Estimated bytes for all entries (see entryBytes). Default DEFAULT_CACHE_MAX_BYTES. */
  maxBytes?: number;
  /** Larger upstream answers (wire bytes) are not stored. Default MAX_CACHEABLE_RESPONSE_BYTES. */
  maxResponseBytes?: number;
}

export type CachedKind = 'positive' | 'nxdomain' | 'nodata';

export interface CachedAnswer extends DnsAnswer {
  readonly kind: CachedKind;
  /** Seconds until the entry expires; every record TTL is at most this. */
  readonly ttl: number;
}

interface DnsCacheStats {
  hits: number;
  misses: number;
  /** Answers stored (replacements included). */
  stored: number;
  /** Answers offered to put() but not cacheable (SERVFAIL, TC, TTL 0, negative without SOA...). */
  uncacheable: number;
  /** Evicted to stay within maxEntries or maxBytes. */
  evicted: number;
  expired: number;
  /** Answers not stored because they were larger than maxResponseBytes. */
  tooLarge: number;
}

interface CacheEntry {
  readonly key: string;
  /** Key in the wire index (see wireQuestionKey), null when the fast path can never ask for this question. */
  readonly wireKey: string | null;
  readonly wireFlags: number;
  readonly kind: CachedKind;
  readonly storedAt: number;
  readonly ttl: number;
  readonly answer: DnsAnswer;
  /** The records in wire form, encoded on the first wire lookup; null when they cannot be (see encodeWireRecords). */
  wire: WireRecords | null | undefined;
  /** Estimated memory held by this entry (entryBytes, plus the wire form once encoded). */
  bytes: number;
}

/** A cached answer for the fast path: its records in wire form and how long they have been in the cache. */
export interface WireCacheHit {
  readonly records: WireRecords;
  /** Whole seconds since the answer was stored: subtract from every TTL (WireRecords.ttls are the stored TTLs). */
  readonly elapsedSeconds: number;
}

const WIRE_RECORDS_LIMIT = 4096;

/** Index of the per-flags wire map: the DO and CD bits, as in questionKey. */
function wireFlagsOf(flags: ClientQueryFlags): number {
  return (flags.dnssecOk === true ? 2 : 0) | (flags.checkingDisabled === true ? 1 : 0);
}

/** Skips the uncompressed name at `at` (as encodeRecordInto writes it); returns the offset after it. */
function skipName(bytes: Buffer, at: number): number {
  let pos = at;
  while (pos < bytes.length && bytes[pos] !== 0) pos += (bytes[pos] as number) + 1;
  return pos + 1;
}

/**
 * The answer's records encoded back to back, with where their TTLs lie and the TTLs to count down from (each
 * capped at the entry's TTL, as get() does); null for what only the object path handles (OPT records, rcodes
 * other than NOERROR/NXDOMAIN, records dns-packet cannot encode).
 */
function encodeWireRecords(answer: DnsAnswer, entryTtl: number): WireRecords | null {
  const rcode = answer.rcode === 'NOERROR' || answer.rcode === 'NXDOMAIN' ? rcodeNumber(answer.rcode) : undefined;
  if (rcode === undefined) return null;
  const records = [...answer.answers, ...answer.authorities, ...answer.additionals];
  const scratch = Buffer.alloc(WIRE_RECORDS_LIMIT);
  const ttlOffsets = new Uint16Array(records.length);
  const ttls = new Uint32Array(records.length);
  let pos = 0;
  try {
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as Answer;
      if (record.type === 'OPT') return null;
      const length = encodeRecordInto(record, scratch, pos);
      ttlOffsets[i] = skipName(scratch, pos) + 4;
      ttls[i] = Math.max(0, Math.min(record.ttl ?? 0, entryTtl));
      pos += length;
    }
  } catch {
    return null;
  }
  return {
    rcode,
    answerCount: answer.answers.length,
    authorityCount: answer.authorities.length,
    additionalCount: answer.additionals.length,
    bytes: Buffer.from(scratch.subarray(0, pos)),
    ttlOffsets,
    ttls,
  };
}

function isSoa(record: Answer): record is Extract<Answer, { type: 'SOA' }> {
  return record.type === 'SOA';
}

/** RFC 2308 section 5: the negative TTL is the smaller of the SOA record's TTL and its MINIMUM field. */
function negativeTtl(authorities: readonly Answer[]): number | undefined {
  const soa = authorities.find(isSoa);
  if (soa === undefined) return undefined;
  return Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0);
}

function recordTtls(answer: DnsAnswer): number[] {
  return [...answer.answers, ...answer.authorities, ...answer.additionals].map((record) =>
    record.type === 'OPT' ? Number.POSITIVE_INFINITY : (record.ttl ?? 0),
  );
}

/** What kind of cache entry `response` would be and for how long (seconds, before caps), or undefined. */
function classifyResponse(response: DecodedPacket): { kind: CachedKind; ttl: number } | undefined {
  if (response.flag_tc) return undefined;
  const answer = answerOf(response);
  const smallestRecordTtl = Math.min(...recordTtls(answer));
  const negative = negativeTtl(answer.authorities);
  if (answer.rcode === 'NXDOMAIN') {
    return negative === undefined ? undefined : { kind: 'nxdomain', ttl: Math.min(negative, smallestRecordTtl) };
  }
  if (answer.rcode !== 'NOERROR') return undefined;
  if (answer.answers.length === 0) {
    return negative === undefined ? undefined : { kind: 'nodata', ttl: Math.min(negative, smallestRecordTtl) };
  }
  // A CNAME chain that ends in NODATA carries an SOA too: its negative TTL limits the entry.
  return { kind: 'positive', ttl: Math.min(smallestRecordTtl, negative ?? Number.POSITIVE_INFINITY) };
}

/**
 * A copy of a decoded value whose Buffers own their bytes: dns-packet decodes RRSIG signatures, DNSKEY keys, TXT
 * strings and unknown types as views into the whole upstream message, which a cached record would keep alive.
 */
function detached<T>(value: T): T {
  if (Buffer.isBuffer(value)) {
    const copy = Buffer.allocUnsafeSlow(value.length);
    value.copy(copy);
    return copy as T;
  }
  if (Array.isArray(value)) return value.map((item: unknown) => detached(item)) as T;
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[key] = detached(item);
    return copy as T;
  }
  return value;
}

function detachedAnswer(answer: DnsAnswer): DnsAnswer {
  return { ...answer, answers: detached([...answer.answers]), authorities: detached([...answer.authorities]), additionals: detached([...answer.additionals]) };
}

/** Estimated heap bytes of a decoded value: strings at 2 bytes a character, Buffers with their object. */
function valueBytes(value: unknown): number {
  if (typeof value === 'string') return 16 + 2 * value.length;
  if (Buffer.isBuffer(value)) return BUFFER_OVERHEAD_BYTES + value.length;
  if (Array.isArray(value)) return 16 + value.reduce((sum: number, item: unknown) => sum + 8 + valueBytes(item), 0);
  if (value !== null && typeof value === 'object') {
    let sum = 32;
    for (const item of Object.values(value)) sum += 8 + valueBytes(item);
    return sum;
  }
  return 8;
}

/** Estimated memory of a cache entry holding `answer` under `key` (object form; the wire form is added when built). */
function entryBytes(key: string, answer: DnsAnswer): number {
  let sum = ENTRY_OVERHEAD_BYTES + 4 * key.length;
  for (const record of [...answer.answers, ...answer.authorities, ...answer.additionals]) {
    sum += RECORD_OVERHEAD_BYTES + valueBytes(record.name) + valueBytes((record as { data?: unknown }).data);
  }
  return sum;
}

function wireBytes(records: WireRecords | null): number {
  return records === null ? 0 : BUFFER_OVERHEAD_BYTES + records.bytes.length + 2 * BUFFER_OVERHEAD_BYTES + 6 * records.ttls.length;
}

function withTtl(record: Answer, ttl: number): Answer {
  return record.type === 'OPT' ? record : ({ ...record, ttl } as Answer);
}

function recordsWithTtlAtMost(records: readonly Answer[], ceiling: number, elapsedSeconds: number): Answer[] {
  return records.map((record) => withTtl(record, Math.max(0, Math.min(record.type === 'OPT' ? 0 : (record.ttl ?? 0), ceiling) - elapsedSeconds)));
}

/**
 * Keyed by lowercased name + type + class (+ the DO and CD bits, which change what the upstream
 * sends). NXDOMAIN and NODATA are cached per name and type like positive answers; SERVFAIL and
 * other errors are not cached at all. LRU via Map insertion order (a hit moves the entry to the end), evicting
 * while there are more than maxEntries entries or more than maxBytes estimated bytes.
 */
export class DnsCache {
  readonly maxEntries: number;
  readonly maxTtlSeconds: number;
  readonly maxNegativeTtlSeconds: number;
  readonly minTtlSeconds: number;
  readonly maxBytes: number;
  readonly maxResponseBytes: number;
  readonly stats: DnsCacheStats = { hits: 0, misses: 0, stored: 0, uncacheable: 0, evicted: 0, expired: 0, tooLarge: 0 };
  private totalBytes = 0;
  private readonly entries = new Map<string, CacheEntry>();
  /** The same entries by wire key, one map per wireFlagsOf() value, for lookups straight from query bytes. */
  private readonly wireEntries: Map<string, CacheEntry>[] = [new Map(), new Map(), new Map(), new Map()];

  constructor(options: DnsCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES;
    this.maxTtlSeconds = options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
    this.maxNegativeTtlSeconds = options.maxNegativeTtlSeconds ?? DEFAULT_MAX_NEGATIVE_TTL_SECONDS;
    this.minTtlSeconds = options.minTtlSeconds ?? 0;
    this.maxBytes = options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES;
    this.maxResponseBytes = options.maxResponseBytes ?? MAX_CACHEABLE_RESPONSE_BYTES;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new Error(`cache size must be a positive integer`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Estimated memory held by the entries now (at most maxBytes after every put). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** The cached answer with TTLs counted down to `now` (milliseconds), or undefined (miss or expired). */
  get(question: DnsQuestion, now: number, flags: ClientQueryFlags = {}): CachedAnswer | undefined {
    const key = questionKey(question, flags);
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.stats.misses++;
      return undefined;
    }
    const elapsedSeconds = Math.max(0, Math.floor((now - entry.storedAt) / 1000));
    if (elapsedSeconds >= entry.ttl) {
      this.remove(entry);
      this.stats.expired++;
      this.stats.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.stats.hits++;
    const { answer } = entry;
    return {
      kind: entry.kind,
      ttl: entry.ttl - elapsedSeconds,
      rcode: answer.rcode,
      authenticData: answer.authenticData,
      answers: recordsWithTtlAtMost(answer.answers, entry.ttl, elapsedSeconds),
      authorities: recordsWithTtlAtMost(answer.authorities, entry.ttl, elapsedSeconds),
      additionals: recordsWithTtlAtMost(answer.additionals, entry.ttl, elapsedSeconds),
    };
  }

  /**
   * Stores `response` (the upstream's decoded reply to `question`) if it is cacheable; returns
   * whether it was. The caller has already checked that the response answers this question. `responseBytes`: its
   * size on the wire, when known (larger than maxResponseBytes: not stored).
   */
  put(question: DnsQuestion, response: DecodedPacket, now: number, flags: ClientQueryFlags = {}, responseBytes = 0): boolean {
    if (responseBytes > this.maxResponseBytes) {
      this.stats.tooLarge++;
      this.stats.uncacheable++;
      return false;
    }
    const classified = classifyResponse(response);
    if (classified === undefined) {
      this.stats.uncacheable++;
      return false;
    }
    const cap = classified.kind === 'positive' ? this.maxTtlSeconds : this.maxNegativeTtlSeconds;
    const ttl = Math.max(this.minTtlSeconds, Math.min(cap, Math.floor(classified.ttl)));
    if (ttl <= 0) {
      this.stats.uncacheable++;
      return false;
    }
    const key = questionKey(question, flags);
    const previous = this.entries.get(key);
    if (previous !== undefined) this.remove(previous);
    const wireKey = wireQuestionKey(question.name, question.type, question.class);
    const answer = detachedAnswer(answerOf(response));
    const bytes = entryBytes(key, answer);
    if (bytes > this.maxBytes) {
      this.stats.tooLarge++;
      this.stats.uncacheable++;
      return false;
    }
    const entry: CacheEntry = { key, wireKey, wireFlags: wireFlagsOf(flags), kind: classified.kind, storedAt: now, ttl, answer, wire: undefined, bytes };
    this.entries.set(key, entry);
    this.totalBytes += bytes;
    if (wireKey !== null) this.wireEntries[entry.wireFlags]?.set(wireKey, entry);
    this.stats.stored++;
    this.evictOverflow();
    return true;
  }

  /**
   * Like get(), for the fast path: the entry found by the wire form of the question (QueryReader.wireKey), its
   * records in wire form. `maxBytes` bounds the records' size: a bigger answer is left for the general path (and its
   * hit counted there). Undefined on a miss, which is not counted (the general path that follows counts it).
   */
  getWire(wireKey: string, now: number, flags: ClientQueryFlags, maxBytes: number): WireCacheHit | undefined {
    const entry = this.wireEntries[wireFlagsOf(flags)]?.get(wireKey);
    if (entry === undefined) return undefined;
    const elapsedSeconds = Math.max(0, Math.floor((now - entry.storedAt) / 1000));
    if (elapsedSeconds >= entry.ttl) {
      this.remove(entry);
      this.stats.expired++;
      return undefined;
    }
    if (entry.wire === undefined) {
      entry.wire = encodeWireRecords(entry.answer, entry.ttl);
      const added = wireBytes(entry.wire);
      entry.bytes += added;
      this.totalBytes += added;
    }
    const records = entry.wire;
    if (records === null || records.bytes.length > maxBytes) {
      this.evictOverflow();
      return undefined;
    }
    this.entries.delete(entry.key);
    this.entries.set(entry.key, entry);
    this.evictOverflow();
    this.stats.hits++;
    return { records, elapsedSeconds };
  }

  delete(question: DnsQuestion, flags: ClientQueryFlags = {}): boolean {
    const entry = this.entries.get(questionKey(question, flags));
    if (entry === undefined) return false;
    this.remove(entry);
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
    for (const index of this.wireEntries) index.clear();
  }

  private remove(entry: CacheEntry): void {
    if (this.entries.get(entry.key) === entry) this.totalBytes -= entry.bytes;
    this.entries.delete(entry.key);
    if (entry.wireKey !== null) {
      const index = this.wireEntries[entry.wireFlags];
      if (index?.get(entry.wireKey) === entry) index.delete(entry.wireKey);
    }
  }

  private evictOverflow(): void {
    while (this.entries.size > this.maxEntries || this.totalBytes > this.maxBytes) {
      const oldest = this.entries.values().next();
      if (oldest.done === true) return;
      this.remove(oldest.value);
      this.stats.evicted++;
    }
  }
}
