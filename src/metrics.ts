/**
 * Prometheus metrics (prom-client) on a registry of our own, and the HTTP endpoint that serves them.
 * Every series is listed in docs/operations.md. Label values come from our own code (message type names, drop
 * reasons, result kinds); anything that does not look like such a name is counted as "other", so a bug or hostile
 * input can never blow up the number of series.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo, isIPv4, isIPv6 } from 'node:net';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { requireCjs } from './cjs.ts';
import type { Checked } from './result.ts';

const prom = requireCjs('prom-client') as typeof import('prom-client');

export type DnsZoneKind = 'local' | 'forwarded' | 'cached' | 'refused';

/** Why a router advertisement was sent: answering a solicitation, on the RFC 4861 §6.2.4 timer, or at shutdown (lifetime 0). */
type RaKind = 'solicited' | 'unsolicited' | 'final';

interface MetricsOptions {
  /** Series name prefix. Default "lxc_dhcpd_". */
  prefix?: string;
  /** Also export prom-client's process_* and nodejs_* series. Default true. */
  processMetrics?: boolean;
  /** Range label used by setLeases() when none is given, e.g. "10.0.0.100-10.0.0.200". Default "default". */
  range?: string;
}

const LABEL_VALUE = /^[A-Za-z0-9_.:-]{1,64}$/;

function label(value: string): string {
  return LABEL_VALUE.test(value) ? value : 'other';
}

/** Upstream round trips: from sub-millisecond (LAN resolver) to the forwarder's give-up time. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class Metrics {
  readonly registry = new prom.Registry();
  private readonly defaultRange: string;
  private readonly received: Counter<'type'>;
  private readonly sent: Counter<'type'>;
  private readonly dropped: Counter<'reason'>;
  private readonly leasesActive: Gauge<'range'>;
  private readonly leasesFree: Gauge<'range'>;
  private readonly probes: Counter<'result'>;
  private readonly dnsQueries: Counter<'rcode' | 'zone'>;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly upstreamSeconds: Histogram;
  private readonly upstreamErrors: Counter<'kind'>;
  private readonly dnsLimits: Counter<'limit'>;
  private readonly raSentCount: Counter<'kind'>;
  private readonly raSolicitations: Counter;
  private readonly received6: Counter<'type'>;
  private readonly sent6: Counter<'type'>;
  private readonly dropped6: Counter<'reason'>;
  private readonly leases6: Gauge;
  private readonly learned6: Gauge;
  private readonly clusterSeconds: Histogram;
  private readonly clusterLag: Histogram;
  private readonly clusterReconnects: Counter;
  private clusterSource: (() => ReadonlyMap<string, number>) | null = null;

  constructor(options: MetricsOptions = {}) {
    const p = options.prefix ?? 'lxc_dhcpd_';
    const registers = [this.registry];
    this.defaultRange = label(options.range ?? 'default');
    this.received = new prom.Counter({ name: `${p}dhcp_received_total`, help: 'DHCP messages received, by message type', labelNames: ['type'], registers });
    this.sent = new prom.Counter({ name: `${p}dhcp_sent_total`, help: 'DHCP replies sent, by message type', labelNames: ['type'], registers });
    this.dropped = new prom.Counter({ name: `${p}dhcp_dropped_total`, help: 'DHCP frames or messages dropped, by reason', labelNames: ['reason'], registers });
    this.leasesActive = new prom.Gauge({ name: `${p}leases_active`, help: 'Bound, unexpired leases, by range', labelNames: ['range'], registers });
    this.leasesFree = new prom.Gauge({ name: `${p}leases_free`, help: 'Free addresses in the dynamic range, by range', labelNames: ['range'], registers });
    this.probes = new prom.Counter({ name: `${p}probes_total`, help: 'ARP conflict probes, by result', labelNames: ['result'], registers });
    this.dnsQueries = new prom.Counter({
      name: `${p}dns_queries_total`,
      help: 'DNS queries answered, by response code and by who answered (local zone, forwarded, cache, refused)',
      labelNames: ['rcode', 'zone'],
      registers,
    });
    this.cacheHits = new prom.Counter({ name: `${p}dns_cache_hits_total`, help: 'Forwarded queries answered from the cache', registers });
    this.cacheMisses = new prom.Counter({ name: `${p}dns_cache_misses_total`, help: 'Forwarded queries not in the cache', registers });
    this.upstreamSeconds = new prom.Histogram({
      name: `${p}dns_upstream_latency_seconds`,
      help: 'Time from sending a query upstream to its answer',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.upstreamErrors = new prom.Counter({
      name: `${p}dns_upstream_errors_total`,
      help: 'Failed upstream queries, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.dnsLimits = new prom.Counter({
      name: `${p}dns_limit_hits_total`,
      help: 'DNS server limits hit (TCP connections, in-flight, output, deadlines, response rate limiting), by limit',
      labelNames: ['limit'],
      registers,
    });
    this.raSentCount = new prom.Counter({ name: `${p}ra_sent_total`, help: 'Router advertisements sent, by kind', labelNames: ['kind'], registers });
    this.raSolicitations = new prom.Counter({ name: `${p}ra_solicitations_total`, help: 'Router solicitations received', registers });
    this.received6 = new prom.Counter({ name: `${p}dhcp6_received_total`, help: 'DHCPv6 messages received, by message type', labelNames: ['type'], registers });
    this.sent6 = new prom.Counter({ name: `${p}dhcp6_sent_total`, help: 'DHCPv6 messages sent, by message type', labelNames: ['type'], registers });
    this.dropped6 = new prom.Counter({
      name: `${p}dhcp6_dropped_total`,
      help: 'DHCPv6 frames or messages dropped, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.leases6 = new prom.Gauge({ name: `${p}leases6`, help: 'Bound, unexpired DHCPv6 (IA_NA) leases', registers });
    this.learned6 = new prom.Gauge({ name: `${p}learned6_addresses`, help: "Containers' IPv6 addresses learned from the bridge's neighbour table", registers });
    this.clusterSeconds = new prom.Histogram({ name: `${p}cluster_etcd_seconds`, help: 'etcd call round trips', buckets: LATENCY_BUCKETS, registers });
    this.clusterLag = new prom.Histogram({
      name: `${p}cluster_watch_lag_seconds`,
      help: 'From an own etcd write to its watch event (how far the watch trails etcd)',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.clusterReconnects = new prom.Counter({ name: `${p}cluster_reconnects_total`, help: 'Times etcd was reached again after it was lost', registers });
    const source = (): ReadonlyMap<string, number> | null => this.clusterSource?.() ?? null;
    new prom.Gauge({
      name: `${p}cluster_names`,
      help: 'Names in the cluster view, by holding host (at most CLUSTER_MAX_HOSTS series)',
      labelNames: ['host'],
      registers,
      collect() {
        this.reset();
        for (const [host, count] of source() ?? []) this.set({ host: label(host) }, count);
      },
    });
    if (options.processMetrics ?? true) prom.collectDefaultMetrics({ register: this.registry });
  }

  raSent(kind: RaKind): void {
    this.raSentCount.inc({ kind });
  }

  raSolicitation(): void {
    this.raSolicitations.inc();
  }

  /** `type` as RFC 8415 §7.3 names it: SOLICIT, REQUEST, RENEW, INFORMATION-REQUEST, ... */
  dhcp6Received(type: string): void {
    this.received6.inc({ type: label(type) });
  }

  dhcp6Sent(type: string): void {
    this.sent6.inc({ type: label(type) });
  }

  dhcp6Dropped(reason: string): void {
    this.dropped6.inc({ reason: label(reason) });
  }

  setLeases6(bound: number): void {
    this.leases6.set(bound);
  }

  setLearned6(addresses: number): void {
    this.learned6.set(addresses);
  }

  /** `type` as messageTypeName() gives it: DISCOVER, REQUEST, ... */
  clusterRoundTrip(seconds: number): void {
    this.clusterSeconds.observe(seconds);
  }

  clusterWatchLag(seconds: number): void {
    this.clusterLag.observe(seconds);
  }

  clusterReconnect(): void {
    this.clusterReconnects.inc();
  }

  /** Where cluster_names reads names per host at each scrape (the cluster view). */
  watchClusterNames(source: () => ReadonlyMap<string, number>): void {
    this.clusterSource = source;
  }

  dhcpReceived(type: string): void {
    this.received.inc({ type: label(type) });
  }

  dhcpSent(type: string): void {
    this.sent.inc({ type: label(type) });
  }

  dhcpDropped(reason: string): void {
    this.dropped.inc({ reason: label(reason) });
  }

  setLeases(active: number, free: number, range: string = this.defaultRange): void {
    this.leasesActive.set({ range: label(range) }, active);
    this.leasesFree.set({ range: label(range) }, free);
  }

  /** e.g. "free" (no ARP answer), "conflict" (answered: quarantined). */
  probe(result: string): void {
    this.probes.inc({ result: label(result) });
  }

  /** `rcode` as dns-packet names it: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, FORMERR, ... */
  dnsQuery(rcode: string, zone: DnsZoneKind): void {
    this.dnsQueries.inc({ rcode: label(rcode), zone });
  }

  cacheHit(): void {
    this.cacheHits.inc();
  }

  cacheMiss(): void {
    this.cacheMisses.inc();
  }

  upstreamLatency(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.upstreamSeconds.observe(seconds);
  }

  /** e.g. "timeout", "servfail", "truncated", "tcp", "send". */
  dnsLimit(limit: string): void {
    this.dnsLimits.inc({ limit: label(limit) });
  }

  upstreamError(kind: string): void {
    this.upstreamErrors.inc({ kind: label(kind) });
  }

  /** The Prometheus text exposition of every series. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// --metrics ADDR:PORT

interface MetricsListen {
  address: string;
  port: number;
}

/**
 * `--metrics` value: `PORT` (on 127.0.0.1), `IPV4:PORT` or `[IPV6]:PORT`. The error is one line naming the flag.
 */
export function parseMetricsListen(text: string): Checked<MetricsListen> {
  const fail = (why: string): Checked<MetricsListen> => ({
    ok: false,
    error: `--metrics ${JSON.stringify(text)}: ${why} (e.g. --metrics 127.0.0.1:9167 or --metrics [::1]:9167)`,
  });
  let address = '127.0.0.1';
  let portText = text;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (v6) {
    address = v6[1] ?? '';
    portText = v6[2] ?? '';
    if (!isIPv6(address)) return fail(`${JSON.stringify(address)} is not an IPv6 address`);
  } else if (text.includes(':')) {
    const colon = text.lastIndexOf(':');
    address = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (address.includes(':')) return fail('put an IPv6 address in brackets');
    if (!isIPv4(address)) return fail(`${JSON.stringify(address)} is not an IPv4 address`);
  }
  if (!/^\d{1,5}$/.test(portText)) return fail(`${JSON.stringify(portText)} is not a port number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) return fail(`port ${port} is not in 1-65535`);
  return { ok: true, value: { address, port } };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP endpoint

interface MetricsServer {
  readonly server: Server;
  /** The bound address and port (the real port when 0 was asked for). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves GET/HEAD /metrics in the Prometheus text format on address:port (default 127.0.0.1); 404 for other paths,
 * 405 for other methods. Resolves once listening; rejects when the address cannot be bound (EADDRINUSE, ...).
 */
export function serveMetrics(metrics: Metrics, address = '127.0.0.1', port = 0): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    metrics.text().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${(error as Error).message}\n`);
      },
    );
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(new Error(`cannot serve metrics on ${address}:${port}: ${error.message}`));
    server.once('error', onError);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', onError);
      const bound = server.address() as AddressInfo;
      resolve({
        server,
        address: bound.address,
        port: bound.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
