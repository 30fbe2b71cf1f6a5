/**
 * The DNS server on the bridge address: UDP and TCP, our zones answered authoritatively, everything else forwarded
 * (with a cache) for clients on the bridge subnet and the host itself, REFUSED for anyone else.
 */
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatIPv4, inSubnet, parseIPv4, type IPv4 } from '../net/address.ts';
import { UdpSocket, type ReceivedDatagrams, type UdpSocketStats } from '../wire/udp-socket.ts';
import {
  EDNS_UDP_SIZE,
  HEADER_LENGTH,
  Opcode,
  PLAIN_UDP_SIZE,
  Rcode,
  decodeMessage,
  encodeMessage,
  findOpt,
  headerOnlyResponse,
  optRecord,
  readHeader,
  type Answer,
  type Packet,
  type Question,
} from './message.ts';
import { NAME_SERVER_LABEL, type LocalZones } from './zone.ts';
import type { WireCacheHit } from './forward/cache.ts';
import {
  FAST_ANSWER_LIMIT,
  QueryReader,
  TYPE_A,
  TYPE_ANY,
  cachedAnswerLength,
  encodeAnswer,
  typeName,
  writeAddressAnswer,
  writeCachedAnswer,
  writeNegativeAnswer,
  type SimpleQuery,
} from './fast-path.ts';

export type RecursionResult =
  | { ok: true; rcode: number; answers: Answer[]; authorities: Answer[]; additionals: Answer[]; source: 'cache' | 'upstream' }
  | { ok: false; reason: string };

/** Forwarding with a cache (src/dns/forward/), seen from the server. */
export interface Recursor {
  /** `client`: the asker's IP address as text, for per-client bounds; a refusal by a bound is `ok: false` at once. */
  resolve(question: Question, opts: { checkingDisabled: boolean; dnssecOk: boolean; client: string }): Promise<RecursionResult>;
  /** A cached answer right now, without going upstream (the fast path); null on a miss. */
  cached?(question: Question, opts: { checkingDisabled: boolean; dnssecOk: boolean }): RecursionResult | null;
  /**
   * The same from the question's wire form (QueryReader.wireKey), records in wire form, when they take at most
   * `maxBytes`; null otherwise. Preferred by the fast path over `cached`: nothing is decoded or encoded.
   */
  cachedWire?(wireKey: string, now: number, checkingDisabled: boolean, dnssecOk: boolean, maxBytes: number): WireCacheHit | null;
}

/** Who produced an answer: our zones, the cache, an upstream; or a refusal / failure. */
export type DnsAnswerSource = 'local' | 'cache' | 'upstream' | 'refused' | 'error';

export interface DnsServerOptions {
  address: IPv4;
  port: number;
  subnet: { ip: IPv4; prefixLength: number };
  zones: LocalZones;
  /** Null: no forwarding (every name outside our zones is REFUSED). */
  recursor: Recursor | null;
  log: { warn(m: string): void; debug(m: string): void };
  /** Told about every answer sent (metrics). */
  onAnswer?: (rcode: string, source: DnsAnswerSource) => void;
}

export type Transport = 'udp' | 'tcp';

export interface DnsCounters {
  queries: number;
  byRcode: Map<number, number>;
  bySource: Map<DnsAnswerSource, number>;
  malformed: number;
}

const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

interface Client {
  address: string;
  port: number;
  transport: Transport;
}

const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const FLAG_CD = 0x0010;

const OPT_RECORD_LENGTH = 11;
/** Room the fast path may need in the send area for one answer. */
const FAST_ANSWER_ROOM = FAST_ANSWER_LIMIT;

const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 128;

export class DnsServer {
  readonly counters: DnsCounters = { queries: 0, byRcode: new Map(), bySource: new Map(), malformed: 0 };
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  private readonly tcpConnections = new Set<TcpSocket>();
  private localAddresses = new Set<string>();
  private localIPv4 = new Set<IPv4>();
  /** Reused for every fast-path query (see QueryReader). */
  private readonly reader = new QueryReader();
  /** Where answerFast() writes before copying out. */
  private readonly answerScratch = Buffer.alloc(2 * FAST_ANSWER_LIMIT);

  constructor(private readonly o: DnsServerOptions) {
    this.refreshLocalAddresses();
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
    const tcp = createServer((socket) => this.onTcpConnection(socket));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
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
    const now = Date.now();
    try {
      for (let i = 0; i < batch.count; i++) {
        const start = batch.offset(i);
        const length = batch.length(i);
        const address = batch.address(i);
        const port = batch.port(i);
        if (!out.hasRoom(FAST_ANSWER_ROOM)) out.flush();
        const written = this.answerInto(data, start, length, this.mayRecurseIPv4(address), out.area, out.used, now);
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
      (e: unknown) => this.o.log.warn(`DNS query from ${client.address} failed: ${(e as Error).message}`),
    );
  }

  private onTcpConnection(socket: TcpSocket): void {
    this.tcpConnections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => this.tcpConnections.delete(socket));
    socket.on('error', () => socket.destroy());
    const client: Client = { address: socket.remoteAddress?.replace(/^::ffff:/, '') ?? '', port: socket.remotePort ?? 0, transport: 'tcp' };
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const query = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        this.handle(Buffer.from(query), client).then(
          (response) => {
            if (!response || socket.destroyed) return;
            const prefix = Buffer.alloc(2);
            prefix.writeUInt16BE(response.length, 0);
            socket.write(Buffer.concat([prefix, response]));
          },
          () => socket.destroy(),
        );
      }
    });
  }

  /**
   * Simple questions about our zones or in the cache, answered synchronously from the bytes (src/dns/fast-path.ts);
   * null when the query needs the general path (anything else: forwarding, EDNS oddities, malformed input...).
   */
  answerFast(data: Buffer, clientAddress: string): Buffer | null {
    const length = this.answerInto(data, 0, data.length, this.mayRecurse(clientAddress), this.answerScratch, 0, Date.now());
    return length === 0 ? null : Buffer.from(this.answerScratch.subarray(0, length));
  }

  /**
   * The fast path: writes the answer to the query at `data[start, start + length)` into `out` at `at` and counts it;
   * returns its length, or 0 when the query needs the general path (nothing counted then). `out` must have
   * FAST_ANSWER_LIMIT bytes of room at `at`.
   */
  private answerInto(data: Buffer, start: number, length: number, mayRecurse: boolean, out: Buffer, at: number, now: number): number {
    const q = this.reader;
    if (!q.read(data, start, length)) return 0;
    const zones = this.o.zones;
    if (zones.domainWire !== null) {
      const below = q.labelsBelow(data, zones.domainWire, zones.domainLabels);
      if (below > 1) {
        return this.countFast(writeNegativeAnswer(data, q, out, at, Rcode.NxDomain, zones.domainSoaRecord()), Rcode.NxDomain, 'local');
      }
      if (below === 1) {
        const label = q.lowerLabel(data, 0);
        if (label !== NAME_SERVER_LABEL) {
          const host = zones.host(label);
          if (host === undefined) {
            return this.countFast(writeNegativeAnswer(data, q, out, at, Rcode.NxDomain, zones.domainSoaRecord()), Rcode.NxDomain, 'local');
          }
          if (q.type !== TYPE_A && q.type !== TYPE_ANY) {
            return this.countFast(writeNegativeAnswer(data, q, out, at, Rcode.NoError, zones.domainSoaRecord()), Rcode.NoError, 'local');
          }
          return this.countFast(writeAddressAnswer(data, q, out, at, host.ip, zones.ttlFor(host.expiresAt)), Rcode.NoError, 'local');
        }
      }
      if (below >= 0) return this.answerWithObjects(data, start, length, mayRecurse, out, at);
    }
    if (zones.reverseZoneWire !== null && q.labelsBelow(data, zones.reverseZoneWire, zones.reverseZoneLabels) >= 0) {
      return this.answerWithObjects(data, start, length, mayRecurse, out, at);
    }
    const recursor = this.o.recursor;
    if (!mayRecurse || recursor === null) return 0;
    if (recursor.cachedWire === undefined) return this.answerWithObjects(data, start, length, mayRecurse, out, at);
    const overhead = HEADER_LENGTH + (q.questionEnd - q.nameStart) + (q.hasEdns ? OPT_RECORD_LENGTH : 0);
    const hit = recursor.cachedWire(q.wireKey(data), now, q.cd, q.hasEdns && q.doBit, FAST_ANSWER_LIMIT - overhead);
    if (hit === null || cachedAnswerLength(q, hit.records) > FAST_ANSWER_LIMIT) return 0;
    return this.countFast(writeCachedAnswer(data, q, out, at, hit.records, hit.elapsedSeconds), hit.records.rcode, 'cache');
  }

  /** The fast path for the rarer questions (apex, ns, reverse zone, caches without wire form), through objects. */
  private answerWithObjects(data: Buffer, start: number, length: number, mayRecurse: boolean, out: Buffer, at: number): number {
    const r = this.reader;
    const query = data.subarray(start, start + length);
    const q: SimpleQuery = { id: r.id, rd: r.rd, cd: r.cd, name: r.name(data), type: r.type, questionEnd: r.questionEnd - start, edns: r.hasEdns ? { doBit: r.doBit } : null };
    const question = { name: q.name, type: typeName(q.type) as string, class: 'IN' } as Question;
    const local = this.o.zones.answer(question);
    if (local !== null) {
      const encoded = encodeAnswer(query, q, local, true);
      if (encoded === null) return 0;
      return this.countFast(encoded.copy(out, at), local.rcode, 'local');
    }
    if (!mayRecurse || !this.o.recursor?.cached) return 0;
    const hit = this.o.recursor.cached(question, { checkingDisabled: q.cd, dnssecOk: q.edns?.doBit ?? false });
    if (hit === null || !hit.ok) return 0;
    const encoded = encodeAnswer(query, q, hit, false);
    if (encoded === null) return 0;
    return this.countFast(encoded.copy(out, at), hit.rcode, 'cache');
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
    const doBit = opt ? (opt.flags & 0x8000) !== 0 : false;
    const udpLimit = !edns ? PLAIN_UDP_SIZE : Math.min(EDNS_UDP_SIZE, Math.max(PLAIN_UDP_SIZE, opt.udpPayloadSize));
    const base = { id: header.id, rd: header.rd, cd: header.cd, question, edns, doBit };

    if (opt && opt.ednsVersion > 0) return this.respond(base, { rcode: Rcode.BadVers, answers: [], authorities: [], additionals: [] }, false, client, udpLimit, 'error');

    const local = this.o.zones.answer(question);
    if (local !== null) {
      this.bump('local');
      return this.respond(base, local, true, client, udpLimit, 'local');
    }
    if (!this.mayRecurse(client.address) || this.o.recursor === null) {
      this.bump('refused');
      return this.respond(base, { rcode: Rcode.Refused, answers: [], authorities: [], additionals: [] }, false, client, udpLimit, 'refused');
    }
    const result = await this.o.recursor.resolve(question, { checkingDisabled: header.cd, dnssecOk: doBit, client: client.address });
    if (!result.ok) {
      this.bump('error');
      this.o.log.debug(`forwarding ${question.name} ${question.type} failed: ${result.reason}`);
      return this.respond(base, { rcode: Rcode.ServFail, answers: [], authorities: [], additionals: [] }, false, client, udpLimit, 'error');
    }
    this.bump(result.source);
    return this.respond(base, result, false, client, udpLimit, result.source);
  }

  /** Recursion only for the bridge subnet and this host's own addresses: never an open resolver. */
  mayRecurse(address: string): boolean {
    const ip = parseIPv4(address);
    if (ip !== null && this.mayRecurseIPv4(ip)) return true;
    return this.localAddresses.has(address);
  }

  private mayRecurseIPv4(ip: IPv4): boolean {
    return inSubnet(ip, this.o.subnet.ip, this.o.subnet.prefixLength) || ip >>> 24 === 127 || this.localIPv4.has(ip);
  }

  refreshLocalAddresses(): void {
    const set = new Set<string>();
    const ipv4 = new Set<IPv4>();
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        set.add(a.address);
        const ip = parseIPv4(a.address);
        if (ip !== null) ipv4.add(ip);
      }
    }
    this.localAddresses = set;
    this.localIPv4 = ipv4;
  }

  private respond(
    base: { id: number; rd: boolean; cd: boolean; question: Question; edns: boolean; doBit: boolean },
    body: { rcode: number; answers: Answer[]; authorities: Answer[]; additionals: Answer[] },
    authoritative: boolean,
    client: Client,
    udpLimit: number,
    source: DnsAnswerSource,
  ): Buffer {
    const rcode = body.rcode;
    let flags = (rcode & 0xf) | FLAG_RA;
    if (base.rd) flags |= FLAG_RD;
    if (base.cd) flags |= FLAG_CD;
    if (authoritative) flags |= FLAG_AA;
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
        flags: flags | FLAG_TC,
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

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? (rcode === Rcode.BadVers ? 'BADVERS' : `RCODE${rcode}`);
}
