// Upstreams from resolv.conf, and the UpstreamSource the forwarder asks for the current list.
import { readFileSync, statSync } from 'node:fs';
import { canonicalAddress, DNS_PORT, type Upstream } from './upstream.ts';

const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';

/** Gives the upstreams to use now; called before every forwarded query, so it must be cheap. */
export interface UpstreamSource {
  current(): readonly Upstream[];
}

/** Addresses in canonical text form, so "0:0::1" in the ignore list also drops "::1" from resolv.conf. */
function canonicalSet(addresses: readonly string[]): Set<string> {
  const set = new Set<string>();
  for (const text of addresses) set.add(canonicalAddress(text.trim())?.address ?? text.trim());
  return set;
}

/**
 * The `nameserver` lines of resolv.conf text, in file order, without duplicates and without any
 * address in `ignore` (our own listening addresses: forwarding to ourselves would loop). Lines
 * starting with # or ; are comments; like glibc, only the first word after `nameserver` counts and
 * lines with an unparsable address are skipped. glibc uses only the first three; we use them all.
 */
export function parseResolvConf(text: string, ignore: readonly string[] = []): Upstream[] {
  const ignored = canonicalSet(ignore);
  const upstreams: Upstream[] = [];
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'nameserver' || words[1] === undefined) continue;
    const parsed = canonicalAddress(words[1]);
    if (parsed === null || ignored.has(parsed.address) || seen.has(parsed.address)) continue;
    seen.add(parsed.address);
    upstreams.push({ ...parsed, port: DNS_PORT });
  }
  return upstreams;
}

/** parseResolvConf of the file at `path`; a missing or unreadable file gives no upstreams. */
export function readResolvConf(path: string, ignore: readonly string[] = []): Upstream[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return parseResolvConf(text, ignore);
}

/** A fixed list, e.g. from `--upstream` options. */
export class StaticUpstreams implements UpstreamSource {
  private readonly upstreams: readonly Upstream[];

  constructor(upstreams: readonly Upstream[]) {
    this.upstreams = [...upstreams];
  }

  current(): readonly Upstream[] {
    return this.upstreams;
  }
}

interface ResolvConfUpstreamsOptions {
  path?: string;
  /** Our own addresses, never used as upstreams. */
  ignore?: readonly string[];
  /** The file is stat()ed at most this often; default 1000 ms. */
  checkIntervalMs?: number;
  /** Milliseconds clock, for tests. Default Date.now. */
  now?: () => number;
}

/** What tells us the file changed. Inode catches replacement by rename, which can keep the mtime. */
function fileSignature(path: string): string {
  const stat = statSync(path, { bigint: true, throwIfNoEntry: false });
  if (stat === undefined) return 'missing';
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

/**
 * Upstreams from a resolv.conf file, re-read when the file changes. Instead of fs.watch (which
 * loses the file when it is replaced by rename, as resolvconf and NetworkManager do) the file is
 * stat()ed before use, at most once per checkIntervalMs.
 */
export class ResolvConfUpstreams implements UpstreamSource {
  readonly path: string;
  private readonly ignore: readonly string[];
  private readonly checkIntervalMs: number;
  private readonly now: () => number;
  private signature: string;
  private upstreams: readonly Upstream[];
  private lastCheck: number;
  /** How many times the file was read, the first time included. */
  reads = 1;

  constructor(options: ResolvConfUpstreamsOptions = {}) {
    this.path = options.path ?? DEFAULT_RESOLV_CONF;
    this.ignore = options.ignore ?? [];
    this.checkIntervalMs = options.checkIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.signature = fileSignature(this.path);
    this.upstreams = readResolvConf(this.path, this.ignore);
    this.lastCheck = this.now();
  }

  current(): readonly Upstream[] {
    const now = this.now();
    if (now - this.lastCheck < this.checkIntervalMs) return this.upstreams;
    this.lastCheck = now;
    const signature = fileSignature(this.path);
    if (signature !== this.signature) {
      this.signature = signature;
      this.upstreams = readResolvConf(this.path, this.ignore);
      this.reads++;
    }
    return this.upstreams;
  }
}
