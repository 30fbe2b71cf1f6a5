// Forwards questions to upstream resolvers over a few shared UDP sockets, with TCP for truncated
// answers, failover between upstreams, merging of identical in-flight questions and the cache.
import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { DnsCache, type CachedAnswer } from './cache.ts';
import {
  answerOf,
  questionKey,
  rcodeOf,
  responseMatchesQuestion,
  type ClientQueryFlags,
  type DnsAnswer,
  type DnsQuestion,
} from './question.ts';
import type { UpstreamSource } from './resolv-conf.ts';
import { exchangeOverTcp } from './tcp.ts';
import { formatUpstream, type Upstream } from './upstream.ts';

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 1500;
/** Below the ~5 s after which stub resolvers retry: a late answer would go to a client that gave up. */
export const DEFAULT_TOTAL_TIMEOUT_MS = 4500;
/** The EDNS buffer size of DNS Flag Day 2020: avoids IP fragmentation on common paths. */
export const DEFAULT_UDP_PAYLOAD_SIZE = 1232;
export const DEFAULT_SOCKETS_PER_FAMILY = 4;
/** An upstream that failed is asked after the others for this long, so a dead first nameserver
 * does not cost every query a timeout. */
export const DEFAULT_FAILURE_PENALTY_MS = 30_000;

/** An upstream rcode that says "ask someone else" rather than being the answer. */
const RETRY_ELSEWHERE_RCODES = new Set(['SERVFAIL', 'REFUSED', 'NOTIMP', 'FORMERR']);

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
  /** Each query goes out on a random one of these (each bound to a kernel-chosen random port). Default 4. */
  socketsPerFamily?: number;
  /** How long a failed upstream stays at the end of the list. Default 30 000 ms. */
  failurePenaltyMs?: number;
  /** Milliseconds clock for the cache. Default Date.now. */
  now?: () => number;
}

export type ForwardFailureKind = 'timeout' | 'servfail' | 'no-upstream';

export type AttemptOutcome = 'timeout' | 'error-rcode' | 'tcp-failed' | 'send-failed';

export interface FailedAttempt {
  readonly upstream: Upstream;
  readonly outcome: AttemptOutcome;
  /** For 'error-rcode': the upstream's rcode. For the others: what went wrong. */
  readonly detail?: string;
}

export interface ForwardSuccess {
  readonly ok: true;
  /** The upstream's answer (OPT removed): copy into the reply to the client. */
  readonly answer: DnsAnswer;
  /** The upstream's whole decoded response and its bytes, for logging or finer handling. */
  readonly response: DecodedPacket;
  readonly raw: Buffer;
  readonly upstream: Upstream;
  readonly transport: 'udp' | 'tcp';
}

export interface ForwardFailure {
  readonly ok: false;
  /**
   * 'no-upstream': none configured. 'servfail': every upstream was tried and none gave a usable
   * answer (timeouts included). 'timeout': totalTimeoutMs ran out before all were tried.
   */
  readonly failure: ForwardFailureKind;
  readonly attempts: readonly FailedAttempt[];
}

export type ForwardResult = ForwardSuccess | ForwardFailure;

export type ResolveResult =
  | { readonly ok: true; readonly source: 'cache'; readonly answer: CachedAnswer }
  | (ForwardSuccess & { readonly source: 'upstream' })
  | ForwardFailure;

export interface ForwarderStats {
  /** UDP queries sent upstream (TCP retries not included). */
  queriesSent: number;
  /** Upstream attempts that got no answer in time. */
  timeouts: number;
  /** Truncated UDP answers retried over TCP. */
  tcRetries: number;
  tcpFailures: number;
  /** Packets on our sockets that answer nothing we asked (wrong id, source, question, or undecodable): dropped. */
  mismatchedDropped: number;
  /** Upstream answers with SERVFAIL/REFUSED/NOTIMP/FORMERR. */
  errorRcodes: number;
  /** forward() calls that joined an identical question already in flight. */
  coalesced: number;
  socketErrors: number;
}

interface UdpReply {
  readonly raw: Buffer;
  readonly packet: DecodedPacket;
}

interface SendError {
  readonly error: string;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface PendingQuery {
  readonly socket: Socket;
  readonly upstream: Upstream;
  readonly question: DnsQuestion;
  readonly settle: (reply: UdpReply | 'timeout') => void;
}

type AttemptResult = { kind: 'answer'; reply: UdpReply; transport: 'udp' | 'tcp' } | { kind: 'failed'; attempt: FailedAttempt };

const MAX_NAME_OCTETS = 255;
const MAX_LABEL_OCTETS = 63;

/** dns-packet does not check label lengths when encoding; a longer label would corrupt the query. */
export function isEncodableName(name: string): boolean {
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

export function buildUpstreamQuery(id: number, question: DnsQuestion, flags: ClientQueryFlags, udpPayloadSize: number): Buffer {
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

function decodeResponse(raw: Buffer): DecodedPacket | undefined {
  try {
    const packet = dnsPacket.decode(raw);
    return packet.type === 'response' ? packet : undefined;
  } catch {
    return undefined;
  }
}

export class Forwarder {
  readonly stats: ForwarderStats = {
    queriesSent: 0,
    timeouts: 0,
    tcRetries: 0,
    tcpFailures: 0,
    mismatchedDropped: 0,
    errorRcodes: 0,
    coalesced: 0,
    socketErrors: 0,
  };
  readonly cache: DnsCache | undefined;
  private readonly upstreams: UpstreamSource;
  private readonly timeoutMs: number;
  private readonly totalTimeoutMs: number;
  private readonly udpPayloadSize: number;
  private readonly socketsPerFamily: number;
  private readonly now: () => number;
  private readonly failurePenaltyMs: number;
  /** formatUpstream(upstream) → when it last failed (Date.now). */
  private readonly recentFailures = new Map<string, number>();
  private readonly socketPools = new Map<4 | 6, Promise<Socket>[]>();
  private readonly pending = new Map<number, PendingQuery>();
  private readonly inFlight = new Map<string, Promise<ForwardResult>>();
  private closed = false;

  constructor(options: ForwarderOptions) {
    this.upstreams = options.upstreams;
    this.cache = options.cache;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
    this.totalTimeoutMs = options.totalTimeoutMs ?? DEFAULT_TOTAL_TIMEOUT_MS;
    this.udpPayloadSize = options.udpPayloadSize ?? DEFAULT_UDP_PAYLOAD_SIZE;
    this.socketsPerFamily = options.socketsPerFamily ?? DEFAULT_SOCKETS_PER_FAMILY;
    this.now = options.now ?? Date.now;
    this.failurePenaltyMs = options.failurePenaltyMs ?? DEFAULT_FAILURE_PENALTY_MS;
  }

  /** Queries waiting for a UDP answer right now. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** The cached answer if there is one, else forward() (whose answer is then cached). */
  async resolve(question: DnsQuestion, flags: ClientQueryFlags = {}): Promise<ResolveResult> {
    const cached = this.cache?.get(question, this.now(), flags);
    if (cached !== undefined) return { ok: true, source: 'cache', answer: cached };
    const result = await this.forward(question, flags);
    return result.ok ? { ...result, source: 'upstream' } : result;
  }

  /** Asks the upstreams (never the cache); identical questions already in flight share one upstream query. */
  forward(question: DnsQuestion, flags: ClientQueryFlags = {}): Promise<ForwardResult> {
    const key = questionKey(question, flags);
    const existing = this.inFlight.get(key);
    if (existing !== undefined) {
      this.stats.coalesced++;
      return existing;
    }
    const started = this.forwardUncoalesced(question, flags).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }

  /** Closes the sockets; queries still waiting fail as timeouts. */
  async close(): Promise<void> {
    this.closed = true;
    for (const query of [...this.pending.values()]) query.settle('timeout');
    const pools = [...this.socketPools.values()].flat();
    this.socketPools.clear();
    const sockets = await Promise.allSettled(pools);
    for (const socket of sockets) if (socket.status === 'fulfilled') socket.value.close();
  }

  private async forwardUncoalesced(question: DnsQuestion, flags: ClientQueryFlags): Promise<ForwardResult> {
    const upstreams = this.closed ? [] : this.inPreferenceOrder(this.upstreams.current());
    if (upstreams.length === 0) return { ok: false, failure: 'no-upstream', attempts: [] };
    if (!isEncodableName(question.name)) return { ok: false, failure: 'servfail', attempts: [] };
    const deadline = Date.now() + this.totalTimeoutMs;
    const attempts: FailedAttempt[] = [];
    for (const upstream of upstreams) {
      const budget = Math.min(this.timeoutMs, deadline - Date.now());
      if (budget <= 0 || this.closed) return { ok: false, failure: 'timeout', attempts };
      const result = await this.askUpstream(upstream, question, flags, budget);
      if (result.kind === 'failed') {
        attempts.push(result.attempt);
        this.recentFailures.set(formatUpstream(upstream), Date.now());
        continue;
      }
      this.recentFailures.delete(formatUpstream(upstream));
      const { reply, transport } = result;
      this.cache?.put(question, reply.packet, this.now(), flags);
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
    const penalised = upstreams
      .filter((upstream) => failedAt(upstream) !== undefined)
      .sort((x, y) => (failedAt(x) ?? 0) - (failedAt(y) ?? 0));
    return [...healthy, ...penalised];
  }

  /** One upstream: UDP, then TCP if the UDP answer was truncated. */
  private async askUpstream(upstream: Upstream, question: DnsQuestion, flags: ClientQueryFlags, timeoutMs: number): Promise<AttemptResult> {
    const udp = await this.exchangeOverUdp(upstream, question, flags, timeoutMs);
    if (udp === 'timeout') {
      this.stats.timeouts++;
      return { kind: 'failed', attempt: { upstream, outcome: 'timeout' } };
    }
    if ('error' in udp) return { kind: 'failed', attempt: { upstream, outcome: 'send-failed', detail: udp.error } };
    let reply = udp;
    let transport: 'udp' | 'tcp' = 'udp';
    if (reply.packet.flag_tc) {
      this.stats.tcRetries++;
      const tcp = await this.exchangeOverTcpChecked(upstream, question, flags, timeoutMs);
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

  private async exchangeOverTcpChecked(
    upstream: Upstream,
    question: DnsQuestion,
    flags: ClientQueryFlags,
    timeoutMs: number,
  ): Promise<UdpReply | SendError> {
    const id = randomInt(0, 0x10000);
    let raw: Buffer;
    try {
      raw = await exchangeOverTcp(upstream, buildUpstreamQuery(id, question, flags, this.udpPayloadSize), timeoutMs);
    } catch (error) {
      return { error: errorMessage(error) };
    }
    const packet = decodeResponse(raw);
    if (packet === undefined || packet.id !== id || !responseMatchesQuestion(packet, question)) {
      this.stats.mismatchedDropped++;
      return { error: 'TCP answer does not match the query' };
    }
    return { raw, packet };
  }

  /** The matching answer, 'timeout', or why the query could not be sent. */
  private async exchangeOverUdp(
    upstream: Upstream,
    question: DnsQuestion,
    flags: ClientQueryFlags,
    timeoutMs: number,
  ): Promise<UdpReply | 'timeout' | SendError> {
    let socket: Socket;
    try {
      socket = await this.pickSocket(upstream.family);
    } catch (error) {
      return { error: errorMessage(error) };
    }
    const id = this.unusedQueryId();
    const query = buildUpstreamQuery(id, question, flags, this.udpPayloadSize);
    const answered = new Promise<UdpReply | 'timeout'>((resolve) => {
      const timer = setTimeout(() => settle('timeout'), timeoutMs);
      const settle = (reply: UdpReply | 'timeout'): void => {
        if (this.pending.get(id)?.socket !== socket) return;
        this.pending.delete(id);
        clearTimeout(timer);
        resolve(reply);
      };
      this.pending.set(id, { socket, upstream, question, settle });
    });
    const sent = await new Promise<string | undefined>((resolve) => {
      socket.send(query, upstream.port, upstream.address, (error) => resolve(error?.message));
    });
    if (sent !== undefined) {
      this.pending.get(id)?.settle('timeout');
      await answered;
      return { error: sent };
    }
    this.stats.queriesSent++;
    return answered;
  }

  /** A random 16-bit id (crypto RNG) not used by any query now waiting, so a reply maps to one query. */
  private unusedQueryId(): number {
    for (;;) {
      const id = randomInt(0, 0x10000);
      if (!this.pending.has(id)) return id;
    }
  }

  private pickSocket(family: 4 | 6): Promise<Socket> {
    if (this.closed) return Promise.reject(new Error('forwarder closed'));
    let pool = this.socketPools.get(family);
    if (pool === undefined) {
      pool = [];
      this.socketPools.set(family, pool);
    }
    const index = randomInt(0, this.socketsPerFamily);
    const existing = pool[index];
    if (existing !== undefined) return existing;
    const created = this.openSocket(family, pool, index);
    pool[index] = created;
    return created;
  }

  private openSocket(family: 4 | 6, pool: Promise<Socket>[], index: number): Promise<Socket> {
    const socket = createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
    socket.on('message', (message: Buffer, remote: RemoteInfo) => this.onMessage(socket, message, remote));
    const opened = new Promise<Socket>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, address: family === 4 ? '0.0.0.0' : '::' }, () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
    socket.on('error', () => {
      // A broken socket is replaced on next use; its waiting queries time out.
      this.stats.socketErrors++;
      if (pool[index] === opened) delete pool[index];
      socket.close();
    });
    return opened;
  }

  private onMessage(socket: Socket, raw: Buffer, remote: RemoteInfo): void {
    const query = raw.length >= 2 ? this.pending.get(raw.readUInt16BE(0)) : undefined;
    if (query === undefined || query.socket !== socket || remote.address !== query.upstream.address || remote.port !== query.upstream.port) {
      this.stats.mismatchedDropped++;
      return;
    }
    const packet = decodeResponse(raw);
    if (packet === undefined || !responseMatchesQuestion(packet, query.question)) {
      this.stats.mismatchedDropped++;
      return;
    }
    query.settle({ raw, packet });
  }
}
