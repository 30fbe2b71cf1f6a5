/**
 * dnsmasq's lease file (`--dhcp-leasefile`, e.g. /var/lib/misc/dnsmasq.lxcbr0.leases), so that tools written for
 * lxc-net's dnsmasq keep working. One line per active IPv4 lease:
 *
 *     <expiry epoch seconds> <mac> <ip> <hostname|*> <client-id|*>
 *
 * as dnsmasq 2.90 writes it (lease.c, lease_update_file; checked byte for byte against a real dnsmasq in
 * test/integration/dnsmasq-leasefile.test.ts):
 * - the client id is option 61's bytes (type byte included) as lowercase two-digit hex joined by ':'; '*' without one;
 * - lines are in the order of dnsmasq's in-memory lease list: the most recently *created* lease first. A renewal
 *   changes the expiry but not the position;
 * - a `duid ...` line (and IPv6 lines after it) only appear when DHCPv6 is configured: a v4-only dnsmasq writes none;
 * - every line ends with '\n'; no leases → an empty file.
 *
 * With DHCPv6 (a server DUID given), the same function of dnsmasq then writes, after every IPv4 line, the server's
 * DUID and one line per IA_NA lease, in the same list order (newest binding first):
 *
 *     duid <server DUID as colon-separated lowercase hex>
 *     <expiry epoch seconds> <IAID, decimal> <IPv6 address> <hostname|*> <client DUID as colon hex|*>
 *
 * (dnsmasq's "%s%u %s " puts a "T" before the IAID of a temporary address, IA_TA; we lease none). The duid line is
 * written whenever DHCPv6 is on, even with no IPv6 lease yet.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { formatIPv4, type IPv4, parseIPv4 } from '../net/address.ts';
import type { Lease } from './lease.ts';
import type { StoredLease6 } from './lease6.ts';

/** A name dnsmasq would keep: one or more labels of letters, digits, '-' and '_'. Anything else is written as '*'. */
const FILE_HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_]([A-Za-z0-9_-]*))*$/;

function isActive(lease: Lease, now: number): boolean {
  return lease.state === 'bound' && lease.mac !== '' && lease.expiresAt > now;
}

/** Colon-separated lowercase hex, as dnsmasq prints client ids ('%.2x:'). */
export function formatClientIdHex(clientId: Uint8Array): string {
  return Array.from(clientId, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** One line without its newline. Expiry is whole seconds, rounded down (dnsmasq's time_t). */
export function formatDnsmasqLeaseLine(lease: Lease): string {
  const expiry = Math.floor(lease.expiresAt / 1000);
  const hostname = lease.hostname !== null && FILE_HOSTNAME.test(lease.hostname) ? lease.hostname : '*';
  const clientId = lease.clientId !== null && lease.clientId.length > 0 ? formatClientIdHex(lease.clientId) : '*';
  return `${expiry} ${lease.mac} ${formatIPv4(lease.ip)} ${hostname} ${clientId}`;
}

function formatLines(leases: readonly Lease[]): string {
  let text = '';
  for (const lease of leases) text += `${formatDnsmasqLeaseLine(lease)}\n`;
  return text;
}

function isActive6(lease: StoredLease6, now: number): boolean {
  return lease.state === 'bound' && lease.mac !== '' && lease.expiresAt > now;
}

/** One IPv6 lease line without its newline: EXPIRY IAID ADDRESS HOSTNAME CLIENT-DUID. */
export function formatDnsmasqLease6Line(lease: StoredLease6): string {
  const expiry = Math.floor(lease.expiresAt / 1000);
  const hostname = lease.hostname !== null && FILE_HOSTNAME.test(lease.hostname) ? lease.hostname : '*';
  const duid = lease.duidHex === '' ? '*' : formatClientIdHex(Buffer.from(lease.duidHex, 'hex'));
  return `${expiry} ${lease.iaid >>> 0} ${lease.ip} ${hostname} ${duid}`;
}

/** The `duid` line and the IPv6 lines, in the order given; '' without a server DUID (DHCPv6 off, as dnsmasq). */
function formatLines6(serverDuid: Uint8Array | null, leases: readonly StoredLease6[]): string {
  if (serverDuid === null || serverDuid.length === 0) return '';
  let text = `duid ${formatClientIdHex(serverDuid)}\n`;
  for (const lease of leases) text += `${formatDnsmasqLease6Line(lease)}\n`;
  return text;
}

/** The IPv6 part of a lease file: the server's DUID (null: DHCPv6 is off, no IPv6 part) and every IPv6 lease record. */
interface DnsmasqIPv6Part {
  serverDuid: Uint8Array | null;
  leases6: readonly StoredLease6[];
}

/**
 * The file dnsmasq would write for these leases: active ones only (bound, owned, `expiresAt > now`), the most
 * recently bound first (by `updatedAt`; equal times keep the input order). Since a renewal also moves `updatedAt`,
 * a renewed lease goes to the top here, where dnsmasq leaves it in place; DnsmasqLeaseFile remembers when each
 * binding started and reproduces dnsmasq's order exactly.
 */
export function formatDnsmasqLeases(leases: readonly Lease[], now: number, ipv6?: DnsmasqIPv6Part): string {
  const active = leases.filter((l) => isActive(l, now));
  active.sort((a, b) => b.updatedAt - a.updatedAt);
  if (ipv6 === undefined) return formatLines(active);
  const active6 = ipv6.leases6.filter((l) => isActive6(l, now)).sort((a, b) => b.updatedAt - a.updatedAt);
  return formatLines(active) + formatLines6(ipv6.serverDuid, active6);
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

export interface DnsmasqLeaseRecord {
  /** Epoch ms (a multiple of 1000); null for an infinite lease (dnsmasq writes 0). */
  expiresAt: number | null;
  /** 'aa:bb:cc:dd:ee:ff'. */
  mac: string;
  ip: IPv4;
  hostname: string | null;
  clientId: Buffer | null;
}

interface DnsmasqParseError {
  /** 1-based. */
  line: number;
  message: string;
}

interface DnsmasqParseResult {
  records: DnsmasqLeaseRecord[];
  /** At most one per bad line; the bad line is left out of `records`. */
  errors: DnsmasqParseError[];
}

const EXPIRY = /^\d{1,12}$/;
const ETHER_MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const OTHER_HWADDR = /^[0-9a-f]{2}-/i;
const CLIENT_ID = /^[0-9a-f]{2}(:[0-9a-f]{2})*$/i;

function parseLine(fields: string[]): DnsmasqLeaseRecord | string {
  if (fields.length !== 5) return `expected 5 fields "EXPIRY MAC IP HOSTNAME CLIENT-ID", found ${fields.length}`;
  const [expiryText, macText, ipText, hostText, clientText] = fields as [string, string, string, string, string];
  if (!EXPIRY.test(expiryText)) return `expiry ${JSON.stringify(expiryText)} is not a number of seconds`;
  if (!ETHER_MAC.test(macText)) {
    return OTHER_HWADDR.test(macText)
      ? `hardware address ${JSON.stringify(macText)} is not Ethernet (dnsmasq writes TYPE-ADDRESS for other types): not supported`
      : `${JSON.stringify(macText)} is not a MAC address aa:bb:cc:dd:ee:ff`;
  }
  const ip = parseIPv4(ipText);
  if (ip === null) return `${JSON.stringify(ipText)} is not an IPv4 address`;
  if (hostText !== '*' && !FILE_HOSTNAME.test(hostText)) return `hostname ${JSON.stringify(hostText)} is not a host name or *`;
  if (clientText !== '*' && !CLIENT_ID.test(clientText)) return `client id ${JSON.stringify(clientText)} is not colon-separated hex or *`;
  const seconds = Number(expiryText);
  return {
    expiresAt: seconds === 0 ? null : seconds * 1000,
    mac: macText.toLowerCase(),
    ip,
    hostname: hostText === '*' ? null : hostText,
    clientId: clientText === '*' ? null : Buffer.from(clientText.replace(/:/g, ''), 'hex'),
  };
}

/**
 * Reads a dnsmasq lease file. IPv4 lease lines become records; the `duid` line and IPv6 lease lines (address with
 * ':', written after the duid line) are skipped, as are empty lines. Every other line that does not parse gives one
 * error naming its line number.
 */
export function parseDnsmasqLeases(text: string): DnsmasqParseResult {
  const records: DnsmasqLeaseRecord[] = [];
  const errors: DnsmasqParseError[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const fields = line.trim().split(/[ \t]+/);
    if (fields[0] === 'duid') return;
    if (fields.length >= 3 && fields[2]?.includes(':') === true) return; // IPv6: EXPIRY IAID ADDRESS HOSTNAME DUID
    const parsed = parseLine(fields);
    if (typeof parsed === 'string') errors.push({ line: index + 1, message: `line ${index + 1}: ${parsed}` });
    else records.push(parsed);
  });
  return { records, errors };
}

/** A parsed record as a bound Lease (for importing a dnsmasq file). An infinite lease gets `infiniteExpiresAt`. */
export function dnsmasqRecordToLease(record: DnsmasqLeaseRecord, updatedAt: number, infiniteExpiresAt = Number.MAX_SAFE_INTEGER): Lease {
  return {
    ip: record.ip,
    mac: record.mac,
    clientId: record.clientId,
    hostname: record.hostname,
    state: 'bound',
    expiresAt: record.expiresAt ?? infiniteExpiresAt,
    updatedAt,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/** Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(data, 'utf8');
      await handle.chmod(mode); // the umask may have narrowed it
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

interface DnsmasqLeaseFileOptions {
  path: string;
  /** All current lease records (any state); called when a write actually happens. */
  leases: () => Iterable<Lease>;
  /** Minimum time between two writes. Default 100 ms. */
  minIntervalMs?: number;
  /** A failed write; the next schedule() tries again. Default: ignore. */
  onError?: (error: Error) => void;
  now?: () => number;
  /** File mode. Default 0644 (dnsmasq's file is world-readable too). */
  mode?: number;
  /**
   * The server's DHCPv6 DUID (option 2's content). Given, the file gains dnsmasq's `duid` line and the IPv6 leases
   * from `leases6`; absent or null (DHCPv6 off), the file is IPv4-only, byte for byte as before.
   */
  serverDuid?: Uint8Array | null;
  /** All current IPv6 lease records (any state); called when a write actually happens. */
  leases6?: () => Iterable<StoredLease6>;
}

/**
 * Keeps a dnsmasq-format lease file up to date. `schedule()` is cheap and may be called after every commit: writes
 * are coalesced (one per event-loop turn at most, and at most one per `minIntervalMs`), never overlap, and each is
 * atomic, so a reader sees the old file or the new one, never a partial one.
 *
 * Line order follows dnsmasq: a binding (MAC + address) goes to the top when it first appears and keeps its place
 * through renewals. At the first write, existing bindings are ordered by `updatedAt`, newest first.
 */
export class DnsmasqLeaseFile {
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private readonly mode: number;
  /** Binding key → sequence number of its first appearance; higher is newer. */
  private readonly order = new Map<string, number>();
  private nextSequence = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private lastWriteAt = -Infinity;
  private closed = false;
  /** Number of completed writes (for tests and metrics). */
  writes = 0;
  private serverDuid: Uint8Array | null;
  private leases6: (() => Iterable<StoredLease6>) | undefined;

  constructor(private readonly options: DnsmasqLeaseFileOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 100;
    this.now = options.now ?? Date.now;
    this.mode = options.mode ?? 0o644;
    this.serverDuid = options.serverDuid ?? null;
    this.leases6 = options.leases6;
  }

  /**
   * DHCPv6 started (its DUID comes from the bridge's MAC, known once the bridge's socket is open, after this file):
   * from the next write on, the file has the `duid` line and the IPv6 leases.
   */
  setIpv6(serverDuid: Uint8Array, leases6: () => Iterable<StoredLease6>): void {
    this.serverDuid = serverDuid;
    this.leases6 = leases6;
    this.schedule();
  }

  get path(): string {
    return this.options.path;
  }

  /** Asks for a write soon. */
  schedule(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.timer !== null || this.writing !== null) return; // the pending or running write picks it up
    const wait = this.lastWriteAt + this.minIntervalMs - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.startWrite(), wait);
    } else {
      this.timer = setImmediate(() => this.startWrite());
    }
  }

  /** The text the next write would produce (updates the remembered order). */
  render(): string {
    const now = this.now();
    const active: Lease[] = [];
    for (const lease of this.options.leases()) if (isActive(lease, now)) active.push(lease);
    const serverDuid = this.serverDuid;
    const active6: StoredLease6[] = [];
    if (serverDuid !== null && this.leases6) for (const lease of this.leases6()) if (isActive6(lease, now)) active6.push(lease);
    const bindings = [...active.map((l) => ({ key: keyOf(l), updatedAt: l.updatedAt })), ...active6.map((l) => ({ key: keyOf6(l), updatedAt: l.updatedAt }))];
    const fresh = bindings.filter((b) => !this.order.has(b.key)).sort((a, b) => a.updatedAt - b.updatedAt);
    for (const binding of fresh) this.order.set(binding.key, this.nextSequence++);
    const live = new Set(bindings.map((b) => b.key));
    for (const key of this.order.keys()) if (!live.has(key)) this.order.delete(key);
    const newestFirst = (a: string, b: string): number => (this.order.get(b) ?? 0) - (this.order.get(a) ?? 0);
    active.sort((a, b) => newestFirst(keyOf(a), keyOf(b)));
    active6.sort((a, b) => newestFirst(keyOf6(a), keyOf6(b)));
    return formatLines(active) + formatLines6(serverDuid, active6);
  }

  /** Writes now (waiting for a running write first) and resolves when the file is on disk. */
  async flush(): Promise<void> {
    while (this.writing !== null) await this.writing;
    this.clearTimer();
    await this.startWrite();
  }

  /** Writes what is pending, then stops; later schedule() calls do nothing. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing !== null) await this.writing;
    this.clearTimer();
    if (this.dirty) await this.startWrite();
  }

  private clearTimer(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private startWrite(): Promise<void> {
    this.timer = null;
    if (this.writing !== null) return this.writing;
    this.dirty = false;
    const text = this.render();
    const run = writeFileAtomic(this.options.path, text, this.mode).then(
      () => {
        this.writes++;
      },
      (error: unknown) => {
        this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
      },
    );
    this.writing = run.finally(() => {
      this.writing = null;
      this.lastWriteAt = Date.now();
      if (this.dirty && !this.closed) {
        this.dirty = false;
        this.schedule();
      }
    });
    return this.writing;
  }
}

function keyOf(lease: Lease): string {
  return `${lease.mac} ${lease.ip}`;
}

/** An IPv6 binding's key: the address with its owner and IA (a new IAID for the address is a new lease to dnsmasq). */
function keyOf6(lease: StoredLease6): string {
  return `${lease.mac} ${lease.iaid} ${lease.ip}`;
}
