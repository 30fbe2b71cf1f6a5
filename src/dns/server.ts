/**
 * The DNS server on the bridge address: UDP and TCP, our zones answered authoritatively, everything else forwarded
 * (with a cache) for clients on the bridge subnet and the host itself, REFUSED for anyone else. It can answer on more
 * addresses (the bridge's IPv6 address) with more trusted prefixes (the bridge's /64, and link-local sources on the
 * bridge): the batched UDP addon is IPv4-only, so those are Node dgram/net sockets feeding the same query path. The reverse zone is
 * answered to those "trusted" clients only; UDP answers to anyone else are rate limited (rrl.ts); TCP connections are
 * bounded in number (overall and per source), in queries in flight, in buffered output and in time (tcp-session.ts).
 */
import { createSocket, type Socket as UdpSocket6 } from 'node:dgram';
import { BlockList, createServer, isIPv4, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { quote, RateLimitedCounter } from '../log.ts';
import { formatIPv4, type IPv4, inSubnet, parseIPv4 } from '../net/address.ts';
import { isLinkLocal, parseIPv6 } from '../net/address6.ts';
import { type ReceivedDatagrams, UdpSocket, type UdpSocketStats } from '../wire/udp-socket.ts';
import {
  cachedAnswerLength,
  encodeAnswer,
  FAST_ANSWER_LIMIT,
  QueryReader,
  writeAddressAnswer,
  writeCachedAnswer,
  writeNegativeAnswer,
  writeTruncatedAnswer,
} from './fast-path.ts';
import type { WireCacheHit } from './forward/cache.ts';
import { type Answer, decodeMessage, encodeMessage, findOpt, headerOnlyResponse, optRecord, type Packet, type Question, readHeader } from './message.ts';
import { NameQuestion } from './question.ts';
import { ResponseRateLimiter, sourceNetwork, sourceNetwork6 } from './rrl.ts';
import { type TcpLimitEvent, TcpSession } from './tcp-session.ts';
import {
  EDNS_UDP_SIZE,
  Flag,
  HEADER_LENGTH,
  OPT_FLAG_DO,
  OPT_RECORD_LENGTH,
  Opcode,
  PLAIN_UDP_SIZE,
  Rcode,
  rcodeName,
  responseFlags,
  typeName,
} from './vocabulary.ts';
import { answerObjects, type LocalAnswer, type LocalZones, REFUSED_TO_CLIENT, WireAnswer, type ZoneAnswer } from './zone.ts';

export type RecursionResult =
  | { ok: true; rcode: number; answers: Answer[]; authorities: Answer[]; additionals: Answer[]; source: 'cache' | 'upstream' }
  | { ok: false; reason: string };

/** Forwarding with a cache (src/dns/forward/), seen from the server. */
export interface Recursor {
  /**
   * `dnssecOk`: the query's DO bit (forwarded, and RRSIGs come back); `client`: the client's IP address as text (the
   * forwarder's per-client caps; a refusal comes back as `{ ok: false, reason: 'limit: ...' }`, answered SERVFAIL).
   */
  resolve(question: Question, opts: { checkingDisabled: boolean; dnssecOk: boolean; client: string }): Promise<RecursionResult>;
  /** A cached answer right now, without going upstream (the fast path); null on a miss. */
  cached?(question: Question, opts: { checkingDisabled: boolean; dnssecOk: boolean }): RecursionResult | null;
  /**
   * The same from the question's wire form (QueryReader.wireKey), records in wire form, when they take at most
   * `maxBytes`; null otherwise. Preferred by the fast path over `cached`: nothing is decoded or encoded. A DO query
   * must never get an answer cached for a query without DO (it would lack the RRSIGs).
   */
  cachedWire?(wireKey: string, now: number, checkingDisabled: boolean, dnssecOk: boolean, maxBytes: number): WireCacheHit | null;
}

/** Who produced an answer: our zones, the cache, an upstream; or a refusal / failure. */
export type DnsAnswerSource = 'local' | 'cache' | 'upstream' | 'refused' | 'error';

/**
 * Connections accepted at once, from everyone: a few per container is plenty (TCP is only for truncated answers and
 * zone-less pipelining clients); Node refuses more (server 'drop', counted).
 */
const TCP_MAX_CONNECTIONS = 128;
/**
 * Connections from one source address: one client cannot take the slots everybody shares (issue 11: one client held
 * all 128). glibc and systemd-resolved open one at a time; 8 leaves room for parallel lookups of a busy container.
 */
const TCP_MAX_CONNECTIONS_PER_SOURCE = 8;
/**
 * Queries of one connection answered concurrently (RFC 7766 §6.2.1.1 wants pipelined queries processed in parallel).
 * glibc pipelines two (A and AAAA); beyond the cap the connection stops being read until one completes.
 */
const TCP_MAX_IN_FLIGHT_PER_CONNECTION = 16;
/**
 * Buffered output of one connection above which it stops being read (its answers are not being taken): one largest
 * DNS message plus its length prefix, so any single answer can still be queued whole. Output of a connection is
 * bounded by this plus TCP_MAX_IN_FLIGHT_PER_CONNECTION answers.
 */
const TCP_OUTPUT_HIGH_WATER = 65_537;
/** A connection without any traffic this long is closed (RFC 7766 §6.2.3: servers may close idle connections). */
const TCP_IDLE_MS = 10_000;
/**
 * A message begun and not completed within this time closes the connection (slowloris: a byte every few seconds
 * would otherwise hold a slot forever). A real client sends a query in one segment.
 */
const TCP_MESSAGE_DEADLINE_MS = 3_000;
/**
 * Largest query accepted over TCP: one question (≤ 259 bytes) plus an OPT record with options (EDNS padding, RFC 8467,
 * rounds to 128-byte blocks; cookies 40 bytes) fits many times over. A larger length closes the connection: the stream
 * cannot be resynchronised, and each partial message would otherwise cost up to 64 KiB.
 */
const TCP_MAX_QUERY_BYTES = 4_096;
/**
 * UDP responses per second to one off-subnet /24 (token bucket, one second's burst). Knot's RRL default is 20; a host
 * of the LAN resolving a few container names stays far below it.
 */
export const RRL_RESPONSES_PER_SECOND = 20;
/** Over the budget, every RRL_SLIP-th response is sent truncated (TC=1), the others dropped (BIND's default, 2). */
const RRL_SLIP = 2;
/** Source networks remembered by the rate limiter (about 100 bytes each: 1 MB); the least recently seen is evicted. */
const RRL_MAX_SOURCES = 10_000;

export interface DnsLimits {
  tcpMaxConnections: number;
  tcpMaxConnectionsPerSource: number;
  tcpMaxInFlightPerConnection: number;
  tcpOutputHighWater: number;
  tcpIdleMs: number;
  tcpMessageDeadlineMs: number;
  tcpMaxQueryBytes: number;
  /** 0 turns response rate limiting off. */
  rrlResponsesPerSecond: number;
  rrlSlip: number;
  rrlMaxSources: number;
}

const DEFAULT_DNS_LIMITS: Readonly<DnsLimits> = Object.freeze({
  tcpMaxConnections: TCP_MAX_CONNECTIONS,
  tcpMaxConnectionsPerSource: TCP_MAX_CONNECTIONS_PER_SOURCE,
  tcpMaxInFlightPerConnection: TCP_MAX_IN_FLIGHT_PER_CONNECTION,
  tcpOutputHighWater: TCP_OUTPUT_HIGH_WATER,
  tcpIdleMs: TCP_IDLE_MS,
  tcpMessageDeadlineMs: TCP_MESSAGE_DEADLINE_MS,
  tcpMaxQueryBytes: TCP_MAX_QUERY_BYTES,
  rrlResponsesPerSecond: RRL_RESPONSES_PER_SECOND,
  rrlSlip: RRL_SLIP,
  rrlMaxSources: RRL_MAX_SOURCES,
});

interface DnsServerOptions {
  address: IPv4;
  port: number;
  subnet: { ip: IPv4; prefixLength: number };
  zones: LocalZones;
  /** Null: no forwarding (every name outside our zones is REFUSED). */
  recursor: Recursor | null;
  log: { warn(m: string): void; debug(m: string): void };
  /** Told about every answer sent (metrics). */
  onAnswer?: (rcode: string, source: DnsAnswerSource) => void;
  /** Told about every limit hit, by counter name (metrics). */
  onLimit?: (kind: keyof DnsLimitCounters) => void;
  /** Overrides of DEFAULT_DNS_LIMITS. */
  limits?: Partial<DnsLimits>;
  /** Clock of the rate limiter and the limit log (ms). */
  now?: () => number;
  /**
   * The host's own addresses, which count as trusted like the bridge subnet. Default: every interface's address, and
   * all of 127.0.0.0/8. Given, it replaces both (tests use it to make loopback an "outside" source).
   */
  hostAddresses?: () => readonly string[];
  /**
   * Addresses answered on besides `address`, UDP and TCP on the same port (the bridge's IPv6 address). Node dgram/net
   * sockets (the batched UDP addon binds IPv4 only) into the same query path: same zones, same rules.
   */
  moreAddresses?: readonly string[];
  /** Trusted prefixes besides `subnet`, as "ADDRESS/LENGTH", IPv4 or IPv6 (the bridge's /64). */
  moreTrusted?: readonly string[];
  /**
   * Link-local sources (fe80::/10) count as trusted when they came in on this interface (the bridge's name): Node
   * gives such sources with their zone, "fe80::1%br0"; a link-local source from elsewhere is an outsider.
   */
  linkLocalInterface?: string;
}

type Transport = 'udp' | 'tcp';

/** Times each limit was hit (the daemon exports them as metrics). */
interface DnsLimitCounters {
  /** TCP connections refused: all TCP_MAX_CONNECTIONS taken. */
  tcpConnectionsRefused: number;
  /** TCP connections refused: the source already had TCP_MAX_CONNECTIONS_PER_SOURCE. */
  tcpPerSourceRefused: number;
  /** Reading paused: output above TCP_OUTPUT_HIGH_WATER. */
  tcpOutputPaused: number;
  /** Reading paused: TCP_MAX_IN_FLIGHT_PER_CONNECTION queries being answered. */
  tcpInFlightPaused: number;
  /** Connections closed: a message unfinished after TCP_MESSAGE_DEADLINE_MS. */
  tcpMessageDeadline: number;
  /** Connections closed: a query longer than TCP_MAX_QUERY_BYTES. */
  tcpQueryTooLarge: number;
  /** Connections closed: idle for TCP_IDLE_MS. */
  tcpIdleClosed: number;
  /** UDP responses to off-subnet sources dropped / sent truncated by rate limiting. */
  rrlDropped: number;
  rrlSlipped: number;
}

interface DnsCounters {
  queries: number;
  byRcode: Map<number, number>;
  bySource: Map<DnsAnswerSource, number>;
  malformed: number;
  limits: DnsLimitCounters;
}

const TCP_LIMIT_COUNTER: Record<TcpLimitEvent, keyof DnsLimitCounters> = {
  'output-paused': 'tcpOutputPaused',
  'in-flight-paused': 'tcpInFlightPaused',
  'message-deadline': 'tcpMessageDeadline',
  'query-too-large': 'tcpQueryTooLarge',
  idle: 'tcpIdleClosed',
};

/** Limit log lines per kind of limit per LIMIT_LOG_INTERVAL_MS: an attack is visible without flooding the journal. */
const LIMIT_LOG_LINES = 5;
const LIMIT_LOG_INTERVAL_MS = 10_000;

interface Client {
  address: string;
  port: number;
  transport: Transport;
}

/** Room the fast path may need in the send area for one answer. */
const FAST_ANSWER_ROOM = FAST_ANSWER_LIMIT;

/** DNSSEC record types a response carries only when the query set DO or asked for them (RFC 4035 §3.2.1). */
const DNSSEC_TYPES = new Set(['RRSIG', 'NSEC', 'NSEC3']);

export class DnsServer {
  readonly counters: DnsCounters = {
    queries: 0,
    byRcode: new Map(),
    bySource: new Map(),
    malformed: 0,
    limits: {
      tcpConnectionsRefused: 0,
      tcpPerSourceRefused: 0,
      tcpOutputPaused: 0,
      tcpInFlightPaused: 0,
      tcpMessageDeadline: 0,
      tcpQueryTooLarge: 0,
      tcpIdleClosed: 0,
      rrlDropped: 0,
      rrlSlipped: 0,
    },
  };
  readonly limits: Readonly<DnsLimits>;
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  /** The sockets of `moreAddresses`. */
  private moreUdp: UdpSocket6[] = [];
  private moreTcp: Server[] = [];
  /** `moreTrusted`: IPv6 (and IPv4) prefixes, and the IPv4 ones as numbers for the batched path. */
  private readonly trusted = new BlockList();
  private readonly trustedIPv4: { ip: IPv4; prefixLength: number }[] = [];
  private readonly tcpConnections = new Set<TcpSocket>();
  /** Open TCP connections per source address (entries removed at 0: bounded by the connections). */
  private readonly tcpPerSource = new Map<string, number>();
  private localAddresses = new Set<string>();
  private localIPv4 = new Set<IPv4>();
  private readonly loopbackIsHost: boolean;
  private readonly now: () => number;
  private readonly rrl: ResponseRateLimiter | null;
  private readonly limitLog: RateLimitedCounter;
  /** Reused for every fast-path query (see QueryReader). */
  private readonly reader = new QueryReader();
  /** Where answerFast() writes before copying out. */
  private readonly answerScratch = Buffer.alloc(2 * FAST_ANSWER_LIMIT);

  constructor(private readonly o: DnsServerOptions) {
    this.limits = Object.freeze({ ...DEFAULT_DNS_LIMITS, ...o.limits });
    this.now = o.now ?? Date.now;
    this.loopbackIsHost = o.hostAddresses === undefined;
    const l = this.limits;
    this.rrl =
      l.rrlResponsesPerSecond > 0
        ? new ResponseRateLimiter({ responsesPerSecond: l.rrlResponsesPerSecond, slip: l.rrlSlip, maxSources: l.rrlMaxSources })
        : null;
    this.limitLog = new RateLimitedCounter(LIMIT_LOG_LINES, LIMIT_LOG_INTERVAL_MS, this.now);
    for (const prefix of o.moreTrusted ?? []) this.addTrusted(prefix);
    this.refreshLocalAddresses();
  }

  private addTrusted(prefix: string): void {
    const [address = '', length = ''] = prefix.split('/');
    const prefixLength = Number(length);
    const v4 = parseIPv4(address);
    if (v4 !== null && Number.isInteger(prefixLength) && prefixLength >= 0 && prefixLength <= 32) {
      this.trustedIPv4.push({ ip: v4, prefixLength });
      this.trusted.addSubnet(address, prefixLength, 'ipv4');
    } else if (isIPv6(address) && Number.isInteger(prefixLength) && prefixLength >= 0 && prefixLength <= 128) {
      this.trusted.addSubnet(address, prefixLength, 'ipv6');
    } else {
      throw new RangeError(`trusted prefix ${JSON.stringify(prefix)}: expected ADDRESS/LENGTH`);
    }
  }

  /** Binds UDP and TCP; rejects with one line naming the address and port when either is taken. */
  async listen(): Promise<void> {
    const host = formatIPv4(this.o.address);
    const where = `${host} port ${this.o.port}`;
    const explain = (e: NodeJS.ErrnoException, proto: string): Error =>
      new Error(
        e.code === 'EADDRINUSE'
          ? `DNS ${proto} ${where} is already in use by another program: stop it (or its DNS service), or use --dns-port N or --no-dns`
          : `DNS ${proto} ${where}: ${e.message}`,
      );
    let udp: UdpSocket;
    try {
      udp = UdpSocket.open({
        address: host,
        port: this.o.port,
        onDatagrams: (batch) => this.onDatagrams(batch),
        onError: (e) => this.o.log.warn(`DNS UDP socket: ${e.message}`),
      });
    } catch (e) {
      const error = e as NodeJS.ErrnoException;
      // The addon says "udp socket on ADDRESS port N: STEP: TEXT"; `where` already names the address.
      const detail = error.message.replace(/^udp socket on [^:]*: /, '');
      throw explain(Object.assign(new Error(detail), { code: error.code }), 'UDP');
    }
    this.udp = udp;
    // The sockets' write high-water mark is ours, so write() reports (and 'drain' ends) exactly our backlog limit.
    const tcp = createServer({ highWaterMark: this.limits.tcpOutputHighWater }, (socket) => this.onTcpConnection(socket));
    tcp.maxConnections = this.limits.tcpMaxConnections;
    tcp.on('drop', (d) => this.limitHit('tcpConnectionsRefused', `from ${d?.remoteAddress ?? '?'}: all ${this.limits.tcpMaxConnections} taken`));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', (e) => reject(explain(e, 'TCP')));
        tcp.listen({ host, port: udp.port, exclusive: true }, () => resolve());
      });
    } catch (e) {
      udp.close();
      this.udp = null;
      throw e;
    }
    tcp.on('error', (e) => this.o.log.warn(`DNS TCP listener: ${e.message}`));
    this.tcp = tcp;
    try {
      for (const address of this.o.moreAddresses ?? []) await this.listenMore(address, udp.port);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** UDP and TCP on one more address (Node sockets), answered through the same path as the batched IPv4 socket. */
  private async listenMore(address: string, port: number): Promise<void> {
    const where = `${address} port ${port}`;
    const explain = (e: NodeJS.ErrnoException, proto: string): Error =>
      new Error(
        e.code === 'EADDRINUSE'
          ? `DNS ${proto} ${where} is already in use by another program: stop it (or its DNS service), or use --dns-port N or --no-dns`
          : `DNS ${proto} ${where}: ${e.message}`,
      );
    const udp = createSocket({ type: isIPv4(address) ? 'udp4' : 'udp6', ipv6Only: true });
    this.moreUdp.push(udp);
    await new Promise<void>((resolve, reject) => {
      udp.once('error', (e) => reject(explain(e, 'UDP')));
      udp.bind({ address, port, exclusive: true }, () => resolve());
    });
    udp.on('error', (e) => this.o.log.warn(`DNS UDP socket ${address}: ${e.message}`));
    udp.on('message', (data, rinfo) => this.onDatagram(udp, data, rinfo.address, rinfo.port));
    const tcp = createServer({ highWaterMark: this.limits.tcpOutputHighWater }, (socket) => this.onTcpConnection(socket));
    tcp.maxConnections = this.limits.tcpMaxConnections;
    tcp.on('drop', (d) => this.limitHit('tcpConnectionsRefused', `from ${d?.remoteAddress ?? '?'}: all ${this.limits.tcpMaxConnections} taken`));
    this.moreTcp.push(tcp);
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (e) => reject(explain(e, 'TCP')));
      tcp.listen({ host: address, port, exclusive: true, ipv6Only: true }, () => resolve());
    });
    tcp.on('error', (e) => this.o.log.warn(`DNS TCP listener ${address}: ${e.message}`));
  }

  /**
   * One datagram on a `moreAddresses` socket: the same rate limit for outsiders, then the fast path, then the general
   * path, as the batched socket does.
   */
  private onDatagram(socket: UdpSocket6, data: Buffer, address: string, port: number): void {
    const trusted = this.mayRecurse(address);
    const send = (answer: Buffer): void => socket.send(answer, port, address, (e) => e && this.o.log.debug(`DNS answer to ${address}: ${e.message}`));
    if (!trusted && this.rrl !== null) {
      const v4 = parseIPv4(address);
      const v6 = v4 === null ? parseIPv6(address.replace(/%.*$/, '')) : null;
      const key = v4 !== null ? sourceNetwork(v4) : v6 !== null ? sourceNetwork6(v6) : -1;
      const decision = this.rrl.checkNetwork(key, this.now());
      if (decision !== 'send') {
        const slipped = decision === 'slip' ? this.slipInto(data, 0, data.length, this.answerScratch, 0) : 0;
        if (slipped > 0) send(Buffer.from(this.answerScratch.subarray(0, slipped)));
        this.limitHit(slipped > 0 ? 'rrlSlipped' : 'rrlDropped', `UDP answers to ${address}'s network over ${this.limits.rrlResponsesPerSecond}/s`);
        return;
      }
    }
    const fast = this.answerFast(data, address);
    if (fast !== null) {
      send(fast);
      return;
    }
    const client: Client = { address, port, transport: 'udp' };
    this.handle(data, client).then(
      (response) => response && send(response),
      (e: unknown) => this.o.log.warn(`DNS query from ${address} failed: ${quote((e as Error).message)}`),
    );
  }

  /** The bound port (the kernel's choice when the options said 0). */
  get port(): number {
    return this.udp?.port ?? this.o.port;
  }

  /** The UDP socket's counters (datagrams too big, kernel drops, send errors...); null when not listening. */
  udpStats(): UdpSocketStats | null {
    return this.udp?.stats() ?? null;
  }

  close(): void {
    this.udp?.close();
    this.udp = null;
    this.tcp?.close();
    this.tcp = null;
    for (const u of this.moreUdp.splice(0)) u.close();
    for (const t of this.moreTcp.splice(0)) t.close();
    for (const c of this.tcpConnections) c.destroy();
    this.tcpConnections.clear();
  }

  /**
   * One wakeup's queries: the fast path answers what it can into the socket's send area, all sent together with one
   * sendmmsg; the rest is copied out of the (reused) receive area and answered by the general path when ready.
   */
  private onDatagrams(batch: ReceivedDatagrams): void {
    const udp = this.udp;
    if (udp === null) return;
    const out = udp.outgoing;
    const data = batch.data;
    const now = this.now();
    try {
      for (let i = 0; i < batch.count; i++) {
        const start = batch.offset(i);
        const length = batch.length(i);
        const address = batch.address(i);
        const port = batch.port(i);
        if (!out.hasRoom(FAST_ANSWER_ROOM)) out.flush();
        const trusted = this.mayRecurseIPv4(address);
        if (!trusted && this.rrl !== null) {
          const decision = this.rrl.check(address, now);
          if (decision !== 'send') {
            const slipped = decision === 'slip' ? this.slipInto(data, start, length, out.area, out.used) : 0;
            if (slipped > 0) out.add(slipped, address, port);
            this.limitHit(
              slipped > 0 ? 'rrlSlipped' : 'rrlDropped',
              `UDP answers to ${formatIPv4(address & 0xffffff00)}/24 over ${this.limits.rrlResponsesPerSecond}/s`,
            );
            continue;
          }
        }
        const written = this.answerInto(data, start, length, trusted, out.area, out.used, now);
        if (written > 0) out.add(written, address, port);
        else this.answerLater(Buffer.from(data.subarray(start, start + length)), address, port);
      }
    } finally {
      out.flush();
    }
  }

  private answerLater(query: Buffer, address: IPv4, port: number): void {
    const client: Client = { address: formatIPv4(address), port, transport: 'udp' };
    this.handle(query, client).then(
      (response) => {
        if (response) this.udp?.send(response, address, port);
      },
      (e: unknown) => this.o.log.warn(`DNS query from ${client.address} failed: ${quote((e as Error).message)}`),
    );
  }

  /**
   * A rate-limited "slip": the minimal truncated answer to the query at `data[start, start + length)`, written into
   * `out` at `at`; 0 (dropped instead) when the query is not simple enough to echo its question safely.
   */
  private slipInto(data: Buffer, start: number, length: number, out: Buffer, at: number): number {
    const q = this.reader;
    return q.read(data, start, length) ? writeTruncatedAnswer(data, q, out, at) : 0;
  }

  private onTcpConnection(socket: TcpSocket): void {
    const address = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    const held = this.tcpPerSource.get(address) ?? 0;
    if (held >= this.limits.tcpMaxConnectionsPerSource) {
      this.limitHit('tcpPerSourceRefused', `from ${address}: it holds ${held}`);
      socket.destroy();
      return;
    }
    this.tcpPerSource.set(address, held + 1);
    this.tcpConnections.add(socket);
    socket.on('close', () => {
      this.tcpConnections.delete(socket);
      const n = (this.tcpPerSource.get(address) ?? 1) - 1;
      if (n > 0) this.tcpPerSource.set(address, n);
      else this.tcpPerSource.delete(address);
    });
    const client: Client = { address, port: socket.remotePort ?? 0, transport: 'tcp' };
    const l = this.limits;
    new TcpSession(
      socket,
      { maxInFlight: l.tcpMaxInFlightPerConnection, idleMs: l.tcpIdleMs, messageDeadlineMs: l.tcpMessageDeadlineMs, maxQueryBytes: l.tcpMaxQueryBytes },
      (query) => this.handle(query, client),
      (event) => this.limitHit(TCP_LIMIT_COUNTER[event], `TCP from ${address}`),
    );
  }

  /**
   * Counts a limit hit and logs it, at most LIMIT_LOG_LINES per kind per LIMIT_LOG_INTERVAL_MS; an idle connection
   * closed is routine (clients keep connections open), so it is logged at debug level.
   */
  private limitHit(kind: keyof DnsLimitCounters, detail: string): void {
    this.counters.limits[kind]++;
    this.o.onLimit?.(kind);
    if (!this.limitLog.hit(kind)) return;
    const line = `DNS limit ${kind}: ${detail} (${this.counters.limits[kind]} so far)`;
    if (kind === 'tcpIdleClosed') this.o.log.debug(line);
    else this.o.log.warn(line);
  }

  /**
   * Simple questions about our zones or in the cache, answered synchronously from the bytes (src/dns/fast-path.ts);
   * null when the query needs the general path (anything else: forwarding, EDNS oddities, malformed input...).
   */
  answerFast(data: Buffer, clientAddress: string): Buffer | null {
    const length = this.answerInto(data, 0, data.length, this.mayRecurse(clientAddress), this.answerScratch, 0, this.now());
    return length === 0 ? null : Buffer.from(this.answerScratch.subarray(0, length));
  }

  /**
   * The fast path: writes the answer to the query at `data[start, start + length)` into `out` at `at` and counts it;
   * returns its length, or 0 when the query needs the general path (nothing counted then). `out` must have
   * FAST_ANSWER_LIMIT bytes of room at `at`. It decides nothing about names: our zones answer first (as in handle()),
   * then, for clients allowed to recurse, the cache; whatever is left goes the general way.
   */
  private answerInto(data: Buffer, start: number, length: number, mayRecurse: boolean, out: Buffer, at: number, now: number): number {
    const q = this.reader;
    if (!q.read(data, start, length)) return 0;
    const recursor = this.o.recursor;
    q.ra = mayRecurse && recursor !== null;
    const local = this.o.zones.answerFor(q, mayRecurse);
    if (local === REFUSED_TO_CLIENT) return 0; // the general path refuses, and counts it
    if (local !== null) return this.countFast(this.writeZoneAnswer(data, local, out, at), local.rcode, 'local');
    if (!mayRecurse || recursor === null) return 0;
    if (recursor.cachedWire === undefined) return this.answerCachedObjects(data, out, at);
    const overhead = HEADER_LENGTH + (q.questionEnd - q.nameStart) + (q.hasEdns ? OPT_RECORD_LENGTH : 0);
    const hit = recursor.cachedWire(q.wireKey(data), now, q.cd, q.hasEdns && q.doBit, FAST_ANSWER_LIMIT - overhead);
    if (hit === null || cachedAnswerLength(q, hit.records) > FAST_ANSWER_LIMIT) return 0;
    return this.countFast(writeCachedAnswer(data, q, out, at, hit.records, hit.elapsedSeconds), hit.records.rcode, 'cache');
  }

  /** A zone's answer to the query just read, as bytes: wire answers directly, record objects through dns-packet. */
  private writeZoneAnswer(data: Buffer, answer: ZoneAnswer, out: Buffer, at: number): number {
    const q = this.reader;
    if (!(answer instanceof WireAnswer)) return this.encodeObjects(data, answer, true, out, at);
    if (answer.kind === 'address') return writeAddressAnswer(data, q, out, at, answer.address, answer.ttl);
    return writeNegativeAnswer(data, q, out, at, answer.rcode, answer.soaWire);
  }

  /** A cached answer from a recursor that hands out records only as objects (no wire form). */
  private answerCachedObjects(data: Buffer, out: Buffer, at: number): number {
    const r = this.reader;
    const recursor = this.o.recursor;
    if (!recursor?.cached) return 0;
    const question = { name: r.name(data), type: typeName(r.type) as string, class: 'IN' } as Question;
    const hit = recursor.cached(question, { checkingDisabled: r.cd, dnssecOk: r.hasEdns && r.doBit });
    if (hit === null || !hit.ok) return 0;
    return this.countFast(this.encodeObjects(data, withoutUnaskedDnssec(hit, question.type, r.doBit), false, out, at), hit.rcode, 'cache');
  }

  /** Record objects answering the query just read, encoded (dns-packet's record codec) into `out`; 0 if over 512 bytes. */
  private encodeObjects(data: Buffer, body: LocalAnswer, authoritative: boolean, out: Buffer, at: number): number {
    const encoded = encodeAnswer(data, this.reader, body, authoritative);
    return encoded === null ? 0 : encoded.copy(out, at);
  }

  /** Counts a fast-path answer of `length` bytes (none when 0: the general path answers and counts instead). */
  private countFast(length: number, rcode: number, source: DnsAnswerSource): number {
    if (length === 0) return 0;
    this.counters.queries++;
    this.bump(source);
    this.countAnswer(rcode, source);
    return length;
  }

  /** One query in, at most one response out (null: stay silent). Never throws on hostile input. */
  async handle(data: Buffer, client: Client): Promise<Buffer | null> {
    this.counters.queries++;
    const header = readHeader(data);
    if (header === null || header.qr) {
      this.counters.malformed++;
      return null;
    }
    if (header.opcode !== Opcode.Query) return this.countRcode(headerOnlyResponse(header, Rcode.NotImp), Rcode.NotImp);
    if (header.qdcount !== 1) return this.countRcode(headerOnlyResponse(header, Rcode.FormErr), Rcode.FormErr);
    const decoded = decodeMessage(data);
    if (!decoded.ok) {
      this.counters.malformed++;
      return this.countRcode(headerOnlyResponse(header, Rcode.FormErr), Rcode.FormErr);
    }
    const query = decoded.packet;
    const question = query.questions?.[0];
    if (!question) return this.countRcode(headerOnlyResponse(header, Rcode.FormErr), Rcode.FormErr);

    const opts = findOpt(query);
    if (opts.length > 1) return this.countRcode(headerOnlyResponse(header, Rcode.FormErr), Rcode.FormErr);
    const opt = opts[0];
    const edns = opt !== undefined;
    const doBit = opt ? (opt.flags & OPT_FLAG_DO) !== 0 : false;
    const udpLimit = !edns ? PLAIN_UDP_SIZE : Math.min(EDNS_UDP_SIZE, Math.max(PLAIN_UDP_SIZE, opt.udpPayloadSize));
    const base = { id: header.id, rd: header.rd, cd: header.cd, question, edns, doBit };
    const trusted = this.mayRecurse(client.address);
    const recursor = this.o.recursor;
    const ra = trusted && recursor !== null;

    if (opt && opt.ednsVersion > 0)
      return this.respond(base, { rcode: Rcode.BadVers, answers: [], authorities: [], additionals: [] }, false, ra, client, udpLimit, 'error');

    // The order of precedence, as in answerInto: our zones, then (trusted clients only) the cache and upstream.
    const asked = new NameQuestion(question);
    const local = this.o.zones.answerFor(asked, trusted);
    if (local !== null && local !== REFUSED_TO_CLIENT) {
      this.bump('local');
      return this.respond(base, answerObjects(local, asked.askedName()), true, ra, client, udpLimit, 'local');
    }
    if (local === REFUSED_TO_CLIENT || !trusted || recursor === null) {
      this.bump('refused');
      return this.respond(base, { rcode: Rcode.Refused, answers: [], authorities: [], additionals: [] }, false, false, client, udpLimit, 'refused');
    }
    const result = await recursor.resolve(question, { checkingDisabled: header.cd, dnssecOk: doBit, client: client.address });
    if (!result.ok) {
      this.bump('error');
      this.o.log.debug(`forwarding ${quote(question.name)} ${quote(question.type)} for ${client.address} failed: ${quote(result.reason)}`);
      return this.respond(base, { rcode: Rcode.ServFail, answers: [], authorities: [], additionals: [] }, false, ra, client, udpLimit, 'error');
    }
    this.bump(result.source);
    return this.respond(base, withoutUnaskedDnssec(result, question.type, doBit), false, ra, client, udpLimit, result.source);
  }

  /**
   * Trusted clients: the bridge subnet and this host's own addresses. Only they get recursion (never an open
   * resolver) and the reverse zone, and only they are exempt from response rate limiting.
   */
  mayRecurse(address: string): boolean {
    const ip = parseIPv4(address);
    if (ip !== null) return this.mayRecurseIPv4(ip) || this.localAddresses.has(address);
    if (this.localAddresses.has(address)) return true;
    const zone = address.indexOf('%');
    if (zone >= 0) {
      const bytes = parseIPv6(address.slice(0, zone));
      return bytes !== null && isLinkLocal(bytes) && this.o.linkLocalInterface !== undefined && address.slice(zone + 1) === this.o.linkLocalInterface;
    }
    return isIPv6(address) && this.trusted.check(address, 'ipv6');
  }

  private mayRecurseIPv4(ip: IPv4): boolean {
    if (inSubnet(ip, this.o.subnet.ip, this.o.subnet.prefixLength) || (this.loopbackIsHost && ip >>> 24 === 127) || this.localIPv4.has(ip)) return true;
    for (const p of this.trustedIPv4) if (inSubnet(ip, p.ip, p.prefixLength)) return true;
    return false;
  }

  refreshLocalAddresses(): void {
    const set = new Set<string>();
    const ipv4 = new Set<IPv4>();
    const addresses = this.o.hostAddresses ? this.o.hostAddresses() : Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
    for (const address of addresses) {
      set.add(address);
      const ip = parseIPv4(address);
      if (ip !== null) ipv4.add(ip);
    }
    this.localAddresses = set;
    this.localIPv4 = ipv4;
  }

  private respond(
    base: { id: number; rd: boolean; cd: boolean; question: Question; edns: boolean; doBit: boolean },
    body: { rcode: number; answers: Answer[]; authorities: Answer[]; additionals: Answer[] },
    authoritative: boolean,
    recursionAvailable: boolean,
    client: Client,
    udpLimit: number,
    source: DnsAnswerSource,
  ): Buffer {
    const rcode = body.rcode;
    // RA only where recursion is offered, and never with REFUSED (a refusal offers nothing).
    const ra = recursionAvailable && rcode !== Rcode.Refused;
    const flags = responseFlags(rcode, (ra ? Flag.RA : 0) | (base.rd ? Flag.RD : 0) | (base.cd ? Flag.CD : 0) | (authoritative ? Flag.AA : 0));
    const additionals = [...body.additionals.filter((a) => (a as { type: string }).type !== 'OPT')];
    if (base.edns) additionals.push(optRecord(rcode >> 4, base.doBit));
    const packet: Packet = {
      id: base.id,
      type: 'response',
      flags,
      questions: [base.question],
      answers: body.answers,
      authorities: body.authorities,
      additionals,
    };
    let encoded = encodeMessage(packet);
    if (client.transport === 'udp' && encoded.length > udpLimit) {
      // Too big for the client's UDP size: send the header and question with TC set; the client retries over TCP.
      encoded = encodeMessage({
        ...packet,
        flags: flags | Flag.TC,
        answers: [],
        authorities: [],
        additionals: base.edns ? [optRecord(rcode >> 4, base.doBit)] : [],
      });
    }
    return this.countRcode(encoded, rcode, source);
  }

  private countRcode(response: Buffer, rcode: number, source: DnsAnswerSource = 'error'): Buffer {
    this.countAnswer(rcode, source);
    return response;
  }

  private countAnswer(rcode: number, source: DnsAnswerSource): void {
    this.counters.byRcode.set(rcode, (this.counters.byRcode.get(rcode) ?? 0) + 1);
    this.o.onAnswer?.(rcodeName(rcode), source);
  }

  private bump(source: DnsAnswerSource): void {
    this.counters.bySource.set(source, (this.counters.bySource.get(source) ?? 0) + 1);
  }
}

/**
 * The answer without DNSSEC records the client did not ask for: RRSIG/NSEC/NSEC3 only with DO, or when they are the
 * question's type (RFC 4035 §3.2.1). The same object when nothing is removed.
 */
function withoutUnaskedDnssec<T extends { answers: Answer[]; authorities: Answer[]; additionals: Answer[] }>(body: T, qtype: string, doBit: boolean): T {
  if (doBit || DNSSEC_TYPES.has(qtype) || qtype === 'ANY') return body;
  const keep = (r: Answer): boolean => !DNSSEC_TYPES.has(r.type);
  const sections = [body.answers, body.authorities, body.additionals];
  if (sections.every((s) => s.every(keep))) return body;
  return { ...body, answers: body.answers.filter(keep), authorities: body.authorities.filter(keep), additionals: body.additionals.filter(keep) };
}
