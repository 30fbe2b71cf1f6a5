// tcpdump inside a namespace, with its verbose text output parsed per packet so tests can
// assert on what crossed the wire (notably whether UDP checksums are right).
import { nsSpawn, type SpawnedProcess } from './netns.ts';

export type ChecksumStatus = 'ok' | 'bad' | 'none';

export interface Endpoint {
  address: string;
  port: number;
}

export interface CapturedPacket {
  /** tcpdump's timestamp text, e.g. "22:47:42.655050". */
  time: string;
  /** The line naming the endpoints, e.g. "10.0.0.1.67 > 10.0.0.154.68: [bad udp cksum ...] BOOTP/DHCP, Reply, ..." */
  summary: string;
  /** UDP checksum as tcpdump -vv judged it: "[udp sum ok]", "[bad udp cksum ..!]", or neither / "[no cksum]". */
  checksum: ChecksumStatus;
  /** IPv4 header checksum: tcpdump -v prints "bad cksum" in the IP line when it is wrong. */
  ipChecksum: 'ok' | 'bad';
  source?: Endpoint;
  destination?: Endpoint;
  /** From "DHCP-Message (53), length 1: Offer" -> "Offer". */
  dhcpType?: string;
  /** All lines tcpdump printed for the packet, first one (with the time) included. */
  lines: string[];
}

const PACKET_START = /^(\d{2}:\d{2}:\d{2}\.\d+) /;
const ENDPOINTS = /^\s*(\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+):/;

function parseEndpoint(address: string | undefined, port: string | undefined): Endpoint | undefined {
  return address === undefined || port === undefined ? undefined : { address, port: Number(port) };
}

function checksumOf(text: string): ChecksumStatus {
  if (text.includes('[udp sum ok]')) return 'ok';
  if (/\[bad udp cksum [^\]]*\]/.test(text)) return 'bad';
  return 'none';
}

function parsePacket(lines: string[]): CapturedPacket {
  const first = lines[0] ?? '';
  const time = first.match(PACKET_START)?.[1] ?? '';
  const summaryLine = lines.find((line) => ENDPOINTS.test(line)) ?? first;
  const endpoints = summaryLine.match(ENDPOINTS);
  const all = lines.join('\n');
  const packet: CapturedPacket = {
    time,
    summary: summaryLine.trim(),
    checksum: checksumOf(all),
    ipChecksum: /\bbad cksum\b/.test(first) ? 'bad' : 'ok',
    lines,
  };
  const source = parseEndpoint(endpoints?.[1], endpoints?.[2]);
  const destination = parseEndpoint(endpoints?.[3], endpoints?.[4]);
  if (source) packet.source = source;
  if (destination) packet.destination = destination;
  const dhcpType = all.match(/DHCP-Message \(53\), length \d+: (\S+)/)?.[1];
  if (dhcpType !== undefined) packet.dhcpType = dhcpType;
  return packet;
}

/** Groups `tcpdump -n -vv` output into packets: a packet starts at a line beginning with its time. */
export function parseTcpdumpVerbose(text: string): CapturedPacket[] {
  const packets: string[][] = [];
  for (const line of text.split('\n')) {
    if (PACKET_START.test(line)) packets.push([line]);
    else if (line.trim() !== '' && packets.length > 0) packets[packets.length - 1]!.push(line);
  }
  return packets.map(parsePacket);
}

export interface CaptureOptions {
  /** Also write the raw frames to this pcap file (tcpdump -w FILE --print). */
  pcapFile?: string;
  /** How long to wait for tcpdump to be ready. Default 5000 ms. */
  startTimeoutMs?: number;
  /** Hard limit on the capture's life (it is stopped after this). Default 120 000 ms. */
  maxDurationMs?: number;
}

export interface Capture {
  readonly process: SpawnedProcess;
  readonly pcapFile?: string;
  /** Packets parsed so far (the last one may still be incomplete). */
  packets(): CapturedPacket[];
  /** Resolves with the first packet satisfying predicate (checked as output arrives). */
  waitFor(predicate: (packet: CapturedPacket) => boolean, timeoutMs?: number): Promise<CapturedPacket>;
  /** Stops tcpdump (after a short settle delay so the last packets are printed) and returns all packets. */
  stop(settleMs?: number): Promise<CapturedPacket[]>;
}

export const DHCP_FILTER = 'udp port 67 or udp port 68';

/** Starts `tcpdump -n -vv -l` on ifname inside ns; resolves once tcpdump reports "listening on". */
export async function startCapture(ns: string, ifname: string, filter: string = DHCP_FILTER, opts: CaptureOptions = {}): Promise<Capture> {
  const argv = ['tcpdump', '-n', '-vv', '-l', '--immediate-mode', '-Z', 'root', '-i', ifname];
  if (opts.pcapFile !== undefined) argv.push('-w', opts.pcapFile, '--print');
  argv.push(filter);
  const tcpdump = nsSpawn(ns, argv, { timeoutMs: opts.maxDurationMs ?? 120_000 });
  try {
    await tcpdump.waitForOutput(/listening on/, { stream: 'stderr', timeoutMs: opts.startTimeoutMs ?? 5000 });
  } catch (error) {
    await tcpdump.stop();
    throw error;
  }

  const packets = (): CapturedPacket[] => parseTcpdumpVerbose(tcpdump.stdout);
  const capture: Capture = {
    process: tcpdump,
    packets,
    async waitFor(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = packets().find(predicate);
        if (found) return found;
        if (Date.now() > deadline || tcpdump.exitStatus !== null) {
          throw new Error(`capture on ${ns}/${ifname}: no matching packet within ${timeoutMs} ms; saw:\n${tcpdump.stdout}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop(settleMs = 200) {
      if (tcpdump.exitStatus === null) {
        await new Promise((resolve) => setTimeout(resolve, settleMs));
        await tcpdump.stop({ signal: 'SIGINT' });
      }
      return packets();
    },
  };
  if (opts.pcapFile !== undefined) return { ...capture, pcapFile: opts.pcapFile };
  return capture;
}
