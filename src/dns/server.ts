/**
 * The DNS server on the bridge address: UDP and TCP, our zones answered authoritatively, everything else forwarded
 * (with a cache) for clients on the bridge subnet and the host itself, REFUSED for anyone else.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatIPv4, inSubnet, parseIPv4, type IPv4 } from '../net/address.ts';
import {
  EDNS_UDP_SIZE,
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
import type { LocalZones } from './zone.ts';
import { encodeAnswer, parseSimpleQuery, typeName } from './fast-path.ts';

export type RecursionResult =
  | { ok: true; rcode: number; answers: Answer[]; authorities: Answer[]; additionals: Answer[]; source: 'cache' | 'upstream' }
  | { ok: false; reason: string };

/** Forwarding with a cache (src/dns/forward/), seen from the server. */
export interface Recursor {
  resolve(question: Question, opts: { checkingDisabled: boolean }): Promise<RecursionResult>;
  /** A cached answer right now, without going upstream (the fast path); null on a miss. */
  cached?(question: Question, opts: { checkingDisabled: boolean }): RecursionResult | null;
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

const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 128;

export class DnsServer {
  readonly counters: DnsCounters = { queries: 0, byRcode: new Map(), bySource: new Map(), malformed: 0 };
  private udp: Socket | null = null;
  private tcp: Server | null = null;
  private readonly tcpConnections = new Set<TcpSocket>();
  private localAddresses = new Set<string>();

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
    const udp = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', (e) => reject(explain(e, 'UDP')));
      udp.bind({ address: host, port: this.o.port, exclusive: true }, () => resolve());
    });
    udp.on('error', (e) => this.o.log.warn(`DNS UDP socket: ${e.message}`));
    udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
    this.udp = udp;
    const tcp = createServer((socket) => this.onTcpConnection(socket));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', (e) => reject(explain(e, 'TCP')));
        tcp.listen({ host, port: this.o.port, exclusive: true }, () => resolve());
      });
    } catch (e) {
      udp.close();
      this.udp = null;
      throw e;
    }
    tcp.on('error', (e) => this.o.log.warn(`DNS TCP listener: ${e.message}`));
    this.tcp = tcp;
  }

  get port(): number {
    return this.o.port;
  }

  close(): void {
    this.udp?.close();
    this.udp = null;
    this.tcp?.close();
    this.tcp = null;
    for (const c of this.tcpConnections) c.destroy();
    this.tcpConnections.clear();
  }

  private onUdp(msg: Buffer, rinfo: RemoteInfo): void {
    const fast = this.answerFast(msg, rinfo.address);
    if (fast !== null) {
      this.udp?.send(fast, rinfo.port, rinfo.address);
      return;
    }
    const client: Client = { address: rinfo.address, port: rinfo.port, transport: 'udp' };
    this.handle(msg, client).then(
      (response) => {
        if (response) this.udp?.send(response, rinfo.port, rinfo.address);
      },
      (e: unknown) => this.o.log.warn(`DNS query from ${rinfo.address} failed: ${(e as Error).message}`),
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
   * Simple questions about our zones, answered synchronously from the bytes (src/dns/fast-path.ts); null when the
   * query needs the general path (anything else: forwarding, EDNS oddities, malformed input...).
   */
  answerFast(data: Buffer, clientAddress: string): Buffer | null {
    const q = parseSimpleQuery(data);
    if (q === null) return null;
    const question = { name: q.name, type: typeName(q.type) as string, class: 'IN' } as Question;
    const local = this.o.zones.answer(question);
    if (local !== null) {
      const encoded = encodeAnswer(data, q, local, true);
      if (encoded === null) return null;
      this.counters.queries++;
      this.bump('local');
      return this.countRcode(encoded, local.rcode, 'local');
    }
    if (!this.o.recursor?.cached || !this.mayRecurse(clientAddress)) return null;
    const hit = this.o.recursor.cached(question, { checkingDisabled: q.cd });
    if (hit === null || !hit.ok) return null;
    const encoded = encodeAnswer(data, q, hit, false);
    if (encoded === null) return null;
    this.counters.queries++;
    this.bump('cache');
    return this.countRcode(encoded, hit.rcode, 'cache');
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
    const result = await this.o.recursor.resolve(question, { checkingDisabled: header.cd });
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
    if (ip !== null && inSubnet(ip, this.o.subnet.ip, this.o.subnet.prefixLength)) return true;
    if (ip !== null && ip >>> 24 === 127) return true;
    return this.localAddresses.has(address);
  }

  refreshLocalAddresses(): void {
    const set = new Set<string>();
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) set.add(a.address);
    this.localAddresses = set;
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
    this.counters.byRcode.set(rcode, (this.counters.byRcode.get(rcode) ?? 0) + 1);
    this.o.onAnswer?.(rcodeName(rcode), source);
    return response;
  }

  private bump(source: DnsAnswerSource): void {
    this.counters.bySource.set(source, (this.counters.bySource.get(source) ?? 0) + 1);
  }
}

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? (rcode === Rcode.BadVers ? 'BADVERS' : `RCODE${rcode}`);
}
