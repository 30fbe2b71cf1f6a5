// Forwards questions to upstream resolvers: one fresh UDP socket (random source port) per query, 0x20 case
// randomisation checked on the answer, TCP for truncated answers, failover between upstreams, merging of identical
// in-flight questions, bounds on how many queries wait upstream (in total and per client), and the cache.
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';
import type { Answer, DecodedPacket } from 'dns-packet';
import { requireCjs } from '../../cjs.ts';
import { quote, RateLimitedCounter } from '../../log.ts';
import { Flag, HEADER_LENGTH } from '../vocabulary.ts';
import type { CachedAnswer, DnsCache } from './cache.ts';
import { answerOf, type ClientQueryFlags, type DnsAnswer, type DnsQuestion, questionKey, rcodeOf, responseMatchesQuestion } from './question.ts';
import type { UpstreamSource } from './resolv-conf.ts';
import { exchangeOverTcp } from './tcp.ts';
import { formatUpstream, type Upstream } from './upstream.ts';

const dnsPacket = requireCjs('dns-packet') as typeof import('dns-packet');

const DEFAULT_UPSTREAM_TIMEOUT_MS = 1500;
/** Below the ~5 s after which stub resolvers retry: a late answer would go to a client that gave up. */
const DEFAULT_TOTAL_TIMEOUT_MS = 4500;
/** The EDNS buffer size of DNS Flag Day 2020: avoids IP fragmentation on common paths. */
const DEFAULT_UDP_PAYLOAD_SIZE = 1232;
/** An upstream that failed is asked after the others for this long, so a dead first nameserver
 * does not cost every query a timeout. */
const DEFAULT_FAILURE_PENALTY_MS = 30_000;

/**
 * Distinct questions waiting upstream at once (identical ones share a slot). Each holds one socket (one fd) and about
 * 7.5 KB while it waits; at the default 1.5 s timeout 1024 slots still carry ~680 cache misses a second to a dead-slow
 * upstream, and unbound's num-queries-per-thread is 1024 too. Beyond it a question fails at once ('limit': SERVFAIL)
 * instead of queueing: the issue-11 flood (65 536 distinct names) exhausted the 16-bit id space and hung the daemon.
 */
export const MAX_PENDING_UPSTREAM = 1024;
/**
 * Open upstream sockets (UDP per query, TCP for truncated answers): the fd budget. A question holds at most one
 * socket at a time, so MAX_PENDING_UPSTREAM sockets suffice; the rest of the soft RLIMIT_NOFILE (Node raises it to
 * the hard limit, 524 288 under systemd >= 240; 1024 is the oldest hard default) is left to the DNS TCP clients,
 * DHCP sockets, the lease database and netlink.
 */
const MAX_UPSTREAM_SOCKETS = MAX_PENDING_UPSTREAM;
/**
 * resolve() calls waiting for an answer, coalesced ones included (each costs a promise and the server's per-query
 * state, ~1 KB): 8 per upstream slot lets bursts of popular names from many containers join without bound on memory.
 */
const MAX_WAITING_QUERIES = 8 * MAX_PENDING_UPSTREAM;
/**
 * resolve() calls one client address may have waiting. A stub resolver has a handful of questions in flight (glibc:
 * 2, A and AAAA); 64 leaves room for a busy container (a build fetching many hosts) while one container alone can
 * take at most 1/16 of MAX_PENDING_UPSTREAM.
 */
export const MAX_PENDING_PER_CLIENT = 64;
/**
 * How long an upstream that answered a 0x20 query with the case changed is asked without case randomisation.
 * Long, because such a resolver (some middleboxes and old forwarders) does not change its habits; short enough that
 * one forged answer (which had to guess id and port) only weakens 0x20 for a while.
 */
const CASE_FALLBACK_MS = 3_600_000;

/**
 * Less time than this left of the total budget ends the search with 'timeout' instead of asking the next upstream: no
 * answer comes back that fast over a real network, and a timer can fire a few ms before Date.now() says it is due
 * (libuv measures from the loop's cached time; seen in CI under load: a third upstream asked with 1 ms left).
 */
const MIN_ATTEMPT_MS = 20;

/** An upstream rcode that says "ask someone else" rather than being the answer. */
const RETRY_ELSEWHERE_RCODES = new Set(['SERVFAIL', 'REFUSED', 'NOTIMP', 'FORMERR']);

export interface ForwarderLog {
  warn(message: string): void;
  debug(message: string): void;
}

export interface ForwarderOptions {
  upstreams: UpstreamSource;
  /** Successful upstream answers are stored here; resolve() also reads it. */
  cache?: DnsCache;
  /** How long to wait for one upstream (UDP, and again for its TCP retry). Default 1500 ms. */
  timeoutMs?: number;
  /** Budget for one forward() over all upstreams. Default 4500 ms. */
  totalTimeoutMs?: number;
  /** EDNS UDP payload size we advertise upstream. Default 1232. */
  udpPayloadSize?: number;
  /** How long a failed upstream stays at the end of the list. Default 30 000 ms. */
  failurePenaltyMs?: number;
  /** Distinct questions waiting upstream. Default MAX_PENDING_UPSTREAM. */
  maxPending?: number;
  /** Waiting resolve() calls in all. Default MAX_WAITING_QUERIES. */
  maxWaiting?: number;
  /** Waiting resolve() calls per client address. Default MAX_PENDING_PER_CLIENT. */
  maxPendingPerClient?: number;
  /** Open upstream sockets. Default MAX_UPSTREAM_SOCKETS. */
  maxSockets?: number;
  /** 0x20 case randomisation of the names sent over UDP. Default true. */
  randomiseCase?: boolean;
  /** How long a case-changing upstream is asked without 0x20. Default CASE_FALLBACK_MS. */
  caseFallbackMs?: number;
  /** Milliseconds clock for the cache. Default Date.now. */
  now?: () => number;
  log?: ForwarderLog;
}

type ForwardFailureKind = 'timeout' | 'servfail' | 'no-upstream' | 'limit';

type AttemptOutcome = 'timeout' | 'error-rcode' | 'tcp-failed' | 'send-failed';

/** Which bound refused a question (failure 'limit'). */
type LimitKind = 'pending' | 'waiting' | 'per-client';

interface FailedAttempt {
  readonly upstream: Upstream;
  readonly outcome: AttemptOutcome;
  /** For 'error-rcode': the upstream's rcode. For the others: what went wrong. */
  readonly detail?: string;
}

interface ForwardSuccess {
  readonly ok: true;
  /** The upstream's answer (OPT removed): copy into the reply to the client. */
  readonly answer: DnsAnswer;
  /** The upstream's whole decoded response and its bytes, for logging or finer handling. */
  readonly response: DecodedPacket;
  readonly raw: Buffer;
  readonly upstream: Upstream;
  readonly transport: 'udp' | 'tcp';
}

interface ForwardFailure {
  readonly ok: false;
  /**
   * 'no-upstream': none configured. 'servfail': every upstream was tried and none gave a usable
   * answer (timeouts included). 'timeout': totalTimeoutMs ran out before all were tried.
   * 'limit': refused at once because too many queries wait (see `limit`).
   */
  readonly failure: ForwardFailureKind;
  readonly attempts: readonly FailedAttempt[];
  readonly limit?: LimitKind;
}

type ForwardResult = ForwardSuccess | ForwardFailure;

type ResolveResult =
  | { readonly ok: true; readonly source: 'cache'; readonly answer: CachedAnswer }
  | (ForwardSuccess & { readonly source: 'upstream' })
  | ForwardFailure;

interface ForwarderStats {
  /** UDP queries sent upstream (TCP retries not included). */
  queriesSent: number;
  /** Upstream attempts that got no answer in time. */
  timeouts: number;
  /** Truncated UDP answers retried over TCP. */
  tcRetries: number;
  tcpFailures: number;
  /** Packets on our sockets that answer nothing we asked (wrong id, source, question, or undecodable): dropped. */
  mismatchedDropped: number;
  /** Answers whose question matched ours only case-insensitively (0x20): dropped, the query kept waiting. */
  caseMismatches: number;
  /** Upstreams found not to preserve case and asked again without 0x20. */
  caseFallbacks: number;
  /** Upstream answers with SERVFAIL/REFUSED/NOTIMP/FORMERR. */
  errorRcodes: number;
  /** forward() calls that joined an identical question already in flight. */
  coalesced: number;
  socketErrors: number;
  /** Questions refused at once because MAX_PENDING_UPSTREAM distinct questions were waiting. */
  limitedPending: number;
  /** resolve() calls refused at once because MAX_WAITING_QUERIES were waiting. */
  limitedWaiting: number;
  /** resolve() calls refused at once because their client had MAX_PENDING_PER_CLIENT waiting. */
  limitedPerClient: number;
  /** Attempts not sent because MAX_UPSTREAM_SOCKETS sockets were open. */
  socketBudgetHits: number;
}

interface UdpReply {
  readonly raw: Buffer;
  readonly packet: DecodedPacket;
}

/** A query as sent on its own socket: what an answer must match. */
interface SentQuery {
  readonly upstream: Upstream;
  readonly question: DnsQuestion;
  /** The query with the name as asked; `sent` is the same with the name's case randomised (or `plain` itself). */
  readonly plain: Buffer;
  readonly sent: Buffer;
  /** Where the question's name ends in both. */
  readonly nameEnd: number;
  readonly randomised: boolean;
}

interface SendError {
  readonly error: string;
}

/** No matching answer in time; `caseOnly`: only answers with the case of the name changed came back. */
interface UdpTimeout {
  readonly timeout: true;
  readonly caseOnly: boolean;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type AttemptResult = { kind: 'answer'; reply: UdpReply; transport: 'udp' | 'tcp' } | { kind: 'failed'; attempt: FailedAttempt };

const MAX_NAME_OCTETS = 255;
const MAX_LABEL_OCTETS = 63;

/** dns-packet does not check label lengths when encoding; a longer label would corrupt the query. */
function isEncodableName(name: string): boolean {
  const trimmed = name === '.' ? '' : name.replace(/\.$/, '');
  if (trimmed === '') return true;
  let octets = 1;
  for (const label of trimmed.split('.')) {
    const length = Buffer.byteLength(label);
    if (length === 0 || length > MAX_LABEL_OCTETS) return false;
    octets += length + 1;
  }
  return octets <= MAX_NAME_OCTETS;
}

function buildUpstreamQuery(id: number, question: DnsQuestion, flags: ClientQueryFlags, udpPayloadSize: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED | (flags.checkingDisabled === true ? dnsPacket.CHECKING_DISABLED : 0),
    questions: [{ name: question.name, type: question.type, class: question.class ?? 'IN' }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: flags.dnssecOk === true ? dnsPacket.DNSSEC_OK : 0,
        flag_do: flags.dnssecOk === true,
        options: [],
      },
    ],
  });
}

/** Offset just past the uncompressed name at `at` (the question name of a message we built), or -1. */
function endOfName(message: Buffer, at: number): number {
  let pos = at;
  while (pos < message.length) {
    const length = message[pos] as number;
    if (length === 0) return pos + 1;
    if (length > MAX_LABEL_OCTETS) return -1;
    pos += length + 1;
  }
  return -1;
}

function isAsciiLetter(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
}

/**
 * A copy of `query` whose question name (from offset 12 to `nameEnd`) has each ASCII letter's case set by a random
 * bit (draft-vixie-dnsext-dns0x20): an off-path forger must now also guess the case pattern. Length bytes untouched.
 */
function withRandomCase(query: Buffer, nameEnd: number): Buffer {
  const out = Buffer.from(query);
  const bits = randomBytes(nameEnd - HEADER_LENGTH);
  let pos = HEADER_LENGTH;
  while (pos < nameEnd) {
    const length = out[pos] as number;
    if (length === 0) break;
    for (let i = pos + 1; i <= pos + length; i++) {
      const byte = out[i] as number;
      if (isAsciiLetter(byte)) out[i] = ((bits[i - HEADER_LENGTH] as number) & 1) === 1 ? byte & ~0x20 : byte | 0x20;
    }
    pos += length + 1;
  }
  return out;
}

/** Bytes [from, to) of a and b equal when ASCII letters are compared without case. */
function sameBytesIgnoringCase(a: Buffer, b: Buffer, from: number, to: number): boolean {
  if (a.length < to || b.length < to) return false;
  for (let i = from; i < to; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x === y) continue;
    if (!isAsciiLetter(x) || (x | 0x20) !== (y | 0x20)) return false;
  }
  return true;
}

/**
 * `name` with the part that ends like `sent` (from a label boundary, exact case) spelled as in `original` (same
 * length: only letter case differs). Used for names an upstream wrote out in full instead of pointing at the question.
 */
export function restoreCase(name: string, sent: string, original: string): string {
  if (sent === original) return name;
  let i = name.length;
  let j = sent.length;
  while (i > 0 && j > 0 && name[i - 1] === sent[j - 1]) {
    i--;
    j--;
  }
  while (j < sent.length && !((j === 0 || sent[j - 1] === '.') && (i === 0 || name[i - 1] === '.'))) {
    i++;
    j++;
  }
  return j >= sent.length ? name : name.slice(0, i) + original.slice(j);
}

const NAME_DATA_TYPES = new Set(['CNAME', 'DNAME', 'NS', 'PTR']);

function restoreRecordCase(record: Answer, sent: string, original: string): Answer {
  const name = restoreCase(record.name, sent, original);
  const data = (record as { data?: unknown }).data;
  if (NAME_DATA_TYPES.has(record.type) && typeof data === 'string') {
    return { ...record, name, data: restoreCase(data, sent, original) } as Answer;
  }
  return name === record.name ? record : ({ ...record, name } as Answer);
}

function decodeResponse(raw: Buffer): DecodedPacket | undefined {
  try {
    const packet = dnsPacket.decode(raw);
    return packet.type === 'response' ? packet : undefined;
  } catch {
    return undefined;
  }
}

/** The question name of a message we built, read as dns-packet reads names (labels as UTF-8, joined by dots). */
function questionNameOf(message: Buffer): string {
  const labels: string[] = [];
  let pos = HEADER_LENGTH;
  while (pos < message.length && message[pos] !== 0) {
    const length = message[pos] as number;
    labels.push(message.toString('utf-8', pos + 1, pos + 1 + length));
    pos += length + 1;
  }
  return labels.length === 0 ? '.' : labels.join('.');
}

export class Forwarder {
  readonly stats: ForwarderStats = {
    queriesSent: 0,
    timeouts: 0,
    tcRetries: 0,
    tcpFailures: 0,
    mismatchedDropped: 0,
    caseMismatches: 0,
    caseFallbacks: 0,
    errorRcodes: 0,
    coalesced: 0,
    socketErrors: 0,
    limitedPending: 0,
    limitedWaiting: 0,
    limitedPerClient: 0,
    socketBudgetHits: 0,
  };
  readonly cache: DnsCache | undefined;
  private readonly upstreams: UpstreamSource;
  private readonly timeoutMs: number;
  private readonly totalTimeoutMs: number;
  private readonly udpPayloadSize: number;
  private readonly now: () => number;
  private readonly failurePenaltyMs: number;
  private readonly maxPending: number;
  private readonly maxWaiting: number;
  private readonly maxPendingPerClient: number;
  private readonly maxSockets: number;
  private readonly randomiseCase: boolean;
  private readonly caseFallbackMs: number;
  private readonly log: ForwarderLog | undefined;
  private readonly limitLog = new RateLimitedCounter(1, 10_000);
  /** formatUpstream(upstream) → when it last failed (Date.now). Bounded by the configured upstreams. */
  private readonly recentFailures = new Map<string, number>();
  /** formatUpstream(upstream) → until when it is asked without 0x20. Bounded by the configured upstreams. */
  private readonly caseBlindUntil = new Map<string, number>();
  /** UDP exchanges waiting for their answer: each owns its socket, so its random id can never collide. */
  private readonly pending = new Set<{ settle: () => void }>();
  private readonly inFlight = new Map<string, Promise<ForwardResult>>();
  /** Client address → its resolve() calls now waiting; an entry exists only while its count is above 0. */
  private readonly waitingByClient = new Map<string, number>();
  private waiting = 0;
  private openSockets = 0;
  private closed = false;

  constructor(options: ForwarderOptions) {
    this.upstreams = options.upstreams;
    this.cache = options.cache;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
    this.totalTimeoutMs = options.totalTimeoutMs ?? DEFAULT_TOTAL_TIMEOUT_MS;
    this.udpPayloadSize = options.udpPayloadSize ?? DEFAULT_UDP_PAYLOAD_SIZE;
    this.now = options.now ?? Date.now;
    this.failurePenaltyMs = options.failurePenaltyMs ?? DEFAULT_FAILURE_PENALTY_MS;
    this.maxPending = options.maxPending ?? MAX_PENDING_UPSTREAM;
    this.maxWaiting = options.maxWaiting ?? MAX_WAITING_QUERIES;
    this.maxPendingPerClient = options.maxPendingPerClient ?? MAX_PENDING_PER_CLIENT;
    this.maxSockets = options.maxSockets ?? MAX_UPSTREAM_SOCKETS;
    this.randomiseCase = options.randomiseCase ?? true;
    this.caseFallbackMs = options.caseFallbackMs ?? CASE_FALLBACK_MS;
    this.log = options.log;
  }

  /** UDP queries waiting for an answer right now. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Distinct questions being forwarded right now (at most maxPending). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Upstream sockets open right now (at most maxSockets). */
  get openSocketCount(): number {
    return this.openSockets;
  }

  /**
   * The cached answer if there is one, else forward() (whose answer is then cached). `client` (the asker's address)
   * is counted against the per-client bound; a call beyond a bound fails at once with failure 'limit'.
   */
  async resolve(question: DnsQuestion, flags: ClientQueryFlags = {}, client?: string): Promise<ResolveResult> {
    const cached = this.cache?.get(question, this.now(), flags);
    if (cached !== undefined) return { ok: true, source: 'cache', answer: cached };
    if (this.waiting >= this.maxWaiting) {
      this.stats.limitedWaiting++;
      return this.limited('waiting', `${this.maxWaiting} queries are waiting for upstream answers`);
    }
    const clientWaiting = client === undefined ? 0 : (this.waitingByClient.get(client) ?? 0);
    if (client !== undefined && clientWaiting >= this.maxPendingPerClient) {
      this.stats.limitedPerClient++;
      return this.limited('per-client', `client ${quote(client)} has ${this.maxPendingPerClient} queries waiting upstream`);
    }
    this.waiting++;
    if (client !== undefined) this.waitingByClient.set(client, clientWaiting + 1);
    try {
      const result = await this.forward(question, flags);
      return result.ok ? { ...result, source: 'upstream' } : result;
    } finally {
      this.waiting--;
      if (client !== undefined) {
        const left = (this.waitingByClient.get(client) ?? 1) - 1;
        if (left > 0) this.waitingByClient.set(client, left);
        else this.waitingByClient.delete(client);
      }
    }
  }

  /** Asks the upstreams (never the cache); identical questions already in flight share one upstream query. */
  forward(question: DnsQuestion, flags: ClientQueryFlags = {}): Promise<ForwardResult> {
    const key = questionKey(question, flags);
    const existing = this.inFlight.get(key);
    if (existing !== undefined) {
      this.stats.coalesced++;
      return existing;
    }
    if (this.inFlight.size >= this.maxPending) {
      this.stats.limitedPending++;
      return Promise.resolve(this.limited('pending', `${this.maxPending} distinct questions are waiting upstream`));
    }
    const started = this.forwardUncoalesced(question, flags).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }

  /** Closes the sockets; queries still waiting fail as timeouts. */
  async close(): Promise<void> {
    this.closed = true;
    for (const query of [...this.pending]) query.settle();
  }

  private limited(limit: LimitKind, why: string): ForwardFailure {
    if (this.limitLog.hit(limit)) {
      this.log?.warn(`forwarding refused (SERVFAIL): ${why} (${this.limitLog.get(limit)} refused so far for this limit)`);
    }
    return { ok: false, failure: 'limit', limit, attempts: [] };
  }

  private async forwardUncoalesced(question: DnsQuestion, flags: ClientQueryFlags): Promise<ForwardResult> {
    const upstreams = this.closed ? [] : this.inPreferenceOrder(this.upstreams.current());
    if (upstreams.length === 0) return { ok: false, failure: 'no-upstream', attempts: [] };
    if (!isEncodableName(question.name)) return { ok: false, failure: 'servfail', attempts: [] };
    const deadline = Date.now() + this.totalTimeoutMs;
    const attempts: FailedAttempt[] = [];
    for (const upstream of upstreams) {
      if (deadline - Date.now() < MIN_ATTEMPT_MS || this.closed) return { ok: false, failure: 'timeout', attempts };
      const result = await this.askUpstream(upstream, question, flags, deadline);
      if (result.kind === 'failed') {
        attempts.push(result.attempt);
        this.recentFailures.set(formatUpstream(upstream), Date.now());
        continue;
      }
      this.recentFailures.delete(formatUpstream(upstream));
      const { reply, transport } = result;
      this.cache?.put(question, reply.packet, this.now(), flags, reply.raw.length);
      return { ok: true, answer: answerOf(reply.packet), response: reply.packet, raw: reply.raw, upstream, transport };
    }
    return { ok: false, failure: 'servfail', attempts };
  }

  /** The configured order, except that upstreams which failed recently go last (longest ago first). */
  private inPreferenceOrder(upstreams: readonly Upstream[]): Upstream[] {
    const now = Date.now();
    const failedAt = (upstream: Upstream): number | undefined => {
      const key = formatUpstream(upstream);
      const at = this.recentFailures.get(key);
      if (at !== undefined && now - at >= this.failurePenaltyMs) this.recentFailures.delete(key);
      return at !== undefined && now - at < this.failurePenaltyMs ? at : undefined;
    };
    const healthy = upstreams.filter((upstream) => failedAt(upstream) === undefined);
    const penalised = upstreams.filter((upstream) => failedAt(upstream) !== undefined).sort((x, y) => (failedAt(x) ?? 0) - (failedAt(y) ?? 0));
    return [...healthy, ...penalised];
  }

  private usesCaseRandomisation(upstream: Upstream): boolean {
    if (!this.randomiseCase) return false;
    const key = formatUpstream(upstream);
    const until = this.caseBlindUntil.get(key);
    if (until === undefined) return true;
    if (Date.now() < until) return false;
    this.caseBlindUntil.delete(key);
    return true;
  }

  private markCaseBlind(upstream: Upstream): void {
    this.stats.caseFallbacks++;
    this.caseBlindUntil.set(formatUpstream(upstream), Date.now() + this.caseFallbackMs);
    this.log?.warn(
      `upstream ${formatUpstream(upstream)} answered only with the case of the name changed (0x20): ` +
        `asking it without case randomisation for ${Math.round(this.caseFallbackMs / 1000)} s`,
    );
  }

  /** One upstream: UDP (again without 0x20 if it only changed the case), then TCP if the UDP answer was truncated. */
  private async askUpstream(upstream: Upstream, question: DnsQuestion, flags: ClientQueryFlags, deadline: number): Promise<AttemptResult> {
    const budget = (): number => Math.min(this.timeoutMs, deadline - Date.now());
    const randomised = this.usesCaseRandomisation(upstream);
    let udp = await this.exchangeOverUdp(upstream, question, flags, budget(), randomised);
    if (randomised && 'timeout' in udp && udp.caseOnly && !this.closed) {
      this.markCaseBlind(upstream);
      if (budget() > 0) udp = await this.exchangeOverUdp(upstream, question, flags, budget(), false);
    }
    if ('timeout' in udp) {
      this.stats.timeouts++;
      return { kind: 'failed', attempt: { upstream, outcome: 'timeout' } };
    }
    if ('error' in udp) return { kind: 'failed', attempt: { upstream, outcome: 'send-failed', detail: udp.error } };
    let reply = udp;
    let transport: 'udp' | 'tcp' = 'udp';
    if (reply.packet.flag_tc) {
      this.stats.tcRetries++;
      const tcp = await this.exchangeOverTcpChecked(upstream, question, flags, Math.max(1, budget()));
      if ('error' in tcp) {
        this.stats.tcpFailures++;
        return { kind: 'failed', attempt: { upstream, outcome: 'tcp-failed', detail: tcp.error } };
      }
      reply = tcp;
      transport = 'tcp';
    }
    const rcode = rcodeOf(reply.packet);
    if (RETRY_ELSEWHERE_RCODES.has(rcode)) {
      this.stats.errorRcodes++;
      return { kind: 'failed', attempt: { upstream, outcome: 'error-rcode', detail: rcode } };
    }
    return { kind: 'answer', reply, transport };
  }

  private async exchangeOverTcpChecked(upstream: Upstream, question: DnsQuestion, flags: ClientQueryFlags, timeoutMs: number): Promise<UdpReply | SendError> {
    if (this.openSockets >= this.maxSockets) {
      this.stats.socketBudgetHits++;
      return { error: `${this.maxSockets} upstream sockets open` };
    }
    const id = randomInt(0, 0x10000);
    let raw: Buffer;
    this.openSockets++;
    try {
      raw = await exchangeOverTcp(upstream, buildUpstreamQuery(id, question, flags, this.udpPayloadSize), timeoutMs);
    } catch (error) {
      return { error: errorMessage(error) };
    } finally {
      this.openSockets--;
    }
    const packet = decodeResponse(raw);
    if (packet === undefined || packet.id !== id || !responseMatchesQuestion(packet, question)) {
      this.stats.mismatchedDropped++;
      return { error: 'TCP answer does not match the query' };
    }
    return { raw, packet };
  }

  /**
   * One query on a fresh socket bound to a kernel-chosen port (RFC 5452 section 9.2: a new random source port per
   * query, as dnsmasq does), closed when the query settles. The matching answer, a timeout, or why it was not sent.
   */
  private async exchangeOverUdp(
    upstream: Upstream,
    question: DnsQuestion,
    flags: ClientQueryFlags,
    timeoutMs: number,
    randomised: boolean,
  ): Promise<UdpReply | UdpTimeout | SendError> {
    if (this.closed) return { error: 'forwarder closed' };
    if (this.openSockets >= this.maxSockets) {
      this.stats.socketBudgetHits++;
      return { error: `${this.maxSockets} upstream sockets open` };
    }
    const plain = buildUpstreamQuery(randomInt(0, 0x10000), question, flags, this.udpPayloadSize);
    const nameEnd = endOfName(plain, HEADER_LENGTH);
    const sent = randomised ? withRandomCase(plain, nameEnd) : plain;
    const socket = createSocket({ type: upstream.family === 4 ? 'udp4' : 'udp6' });
    this.openSockets++;
    let caseOnly = false;
    return new Promise<UdpReply | UdpTimeout | SendError>((resolve) => {
      const entry = { settle: (): void => finish({ timeout: true, caseOnly }) };
      const timer = setTimeout(() => finish({ timeout: true, caseOnly }), Math.max(1, timeoutMs));
      let done = false;
      const finish = (outcome: UdpReply | UdpTimeout | SendError): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(entry);
        this.openSockets--;
        socket.removeAllListeners('message');
        socket.on('error', () => undefined);
        try {
          socket.close();
        } catch {
          // Already closed by an error.
        }
        resolve(outcome);
      };
      this.pending.add(entry);
      socket.on('error', (error) => {
        this.stats.socketErrors++;
        finish({ error: errorMessage(error) });
      });
      const sentQuery: SentQuery = { upstream, question, plain, sent, nameEnd, randomised };
      socket.on('message', (raw: Buffer, remote: RemoteInfo) => {
        const check = this.checkAnswer(raw, remote, sentQuery);
        if (check === 'case-only') caseOnly = true;
        else if (check !== 'ignore') finish(check);
      });
      socket.bind({ port: 0, address: upstream.family === 4 ? '0.0.0.0' : '::' }, () => {
        if (done) return;
        socket.send(sent, upstream.port, upstream.address, (error) => {
          if (error) finish({ error: error.message });
          else this.stats.queriesSent++;
        });
      });
    });
  }

  /**
   * Whether a datagram on a query's socket answers it: from the upstream's address and port, our id, a response with
   * one question that is ours byte for byte (case included when randomised). 'case-only': the right question in
   * another case (a resolver that does not keep case, or a forger who guessed id and port but not the case pattern).
   */
  private checkAnswer(raw: Buffer, remote: RemoteInfo, q: SentQuery): UdpReply | 'ignore' | 'case-only' {
    const questionEnd = q.nameEnd + 4;
    if (
      remote.address !== q.upstream.address ||
      remote.port !== q.upstream.port ||
      raw.length < questionEnd ||
      raw.readUInt16BE(0) !== q.sent.readUInt16BE(0) ||
      (raw.readUInt16BE(2) & Flag.QR) === 0 ||
      raw.readUInt16BE(4) !== 1
    ) {
      this.stats.mismatchedDropped++;
      return 'ignore';
    }
    const exact = raw.compare(q.sent, HEADER_LENGTH, questionEnd, HEADER_LENGTH, questionEnd) === 0;
    if (!exact) {
      if (!sameBytesIgnoringCase(raw, q.sent, HEADER_LENGTH, questionEnd)) {
        this.stats.mismatchedDropped++;
        return 'ignore';
      }
      if (q.randomised) {
        this.stats.caseMismatches++;
        return 'case-only';
      }
    }
    // The name in our own question's case: names compressed as pointers to it follow.
    q.plain.copy(raw, HEADER_LENGTH, HEADER_LENGTH, q.nameEnd);
    const packet = decodeResponse(raw);
    if (packet === undefined || !responseMatchesQuestion(packet, q.question)) {
      this.stats.mismatchedDropped++;
      return 'ignore';
    }
    if (q.randomised) restoreNames(packet, q.sent, q.plain);
    return { raw, packet };
  }
}

/** Names the upstream wrote out in full (not as a pointer to the question) get our spelling back. */
function restoreNames(packet: DecodedPacket, sent: Buffer, plain: Buffer): void {
  const sentName = questionNameOf(sent);
  const original = questionNameOf(plain);
  if (sentName.length !== original.length) return;
  const fix = (records: Answer[] | undefined): Answer[] => (records ?? []).map((record) => restoreRecordCase(record, sentName, original));
  packet.answers = fix(packet.answers);
  packet.authorities = fix(packet.authorities);
  packet.additionals = fix(packet.additionals);
}
