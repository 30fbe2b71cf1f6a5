/**
 * AddressPool: which addresses of the dynamic range are free, and in which order to hand them out (never-used ones
 * lowest first, then previously-used ones freed longest ago first). It knows no leases: LeaseTable (table.ts) takes
 * and releases addresses in it as records change.
 */
import type { IPv4 } from '../net/address.ts';
import { FreeIntervals } from './free-intervals.ts';
import { OrderedSet } from './ordered-set.ts';

/**
 * The free addresses of one dynamic range. Taken addresses are not stored: an address is taken when it is
 * in range, not excluded, and in neither free structure. Memory therefore grows with the number of free runs,
 * previously-used addresses and exclusions, never with the size of the range.
 */
export class AddressPool {
  readonly first: IPv4;
  readonly last: IPv4;
  readonly size: number;
  private readonly neverUsed: FreeIntervals;
  /** Free addresses that have had a lease, oldest release first. */
  private readonly previouslyUsed = new OrderedSet();
  private readonly excluded = new Set<IPv4>();

  constructor(first: IPv4, last: IPv4) {
    if (!isUint32(first) || !isUint32(last)) throw new RangeError('pool bounds must be IPv4 uint32 numbers');
    if (first > last) throw new RangeError('pool first address is above its last address');
    this.first = first;
    this.last = last;
    this.size = last - first + 1;
    this.neverUsed = new FreeIntervals(first, last);
  }

  get freeCount(): number {
    return this.neverUsed.count + this.previouslyUsed.size;
  }

  contains(ip: IPv4): boolean {
    return ip >= this.first && ip <= this.last;
  }

  isExcluded(ip: IPv4): boolean {
    return this.excluded.has(ip);
  }

  isFree(ip: IPv4): boolean {
    if (!this.contains(ip)) return false;
    return this.previouslyUsed.has(ip) || this.neverUsed.has(ip);
  }

  take(ip: IPv4): boolean {
    if (!this.contains(ip)) return false;
    return this.previouslyUsed.delete(ip) || this.neverUsed.remove(ip);
  }

  allocate(): IPv4 | null {
    const fresh = this.neverUsed.removeLowest();
    if (fresh !== null) return fresh;
    return this.previouslyUsed.shift() ?? null;
  }

  /** Returns a taken address to the pool; ignored for free, excluded or out-of-range addresses. */
  release(ip: IPv4): void {
    if (!this.contains(ip) || this.excluded.has(ip) || this.isFree(ip)) return;
    this.previouslyUsed.push(ip);
  }

  exclude(ip: IPv4): void {
    if (!this.contains(ip) || this.excluded.has(ip)) return;
    this.excluded.add(ip);
    this.take(ip);
  }

  unexclude(ip: IPv4): void {
    if (!this.excluded.delete(ip)) return;
    this.previouslyUsed.push(ip);
  }

  markPreviouslyUsed(ip: IPv4): void {
    if (this.neverUsed.remove(ip)) this.previouslyUsed.push(ip);
  }

  /** Number of never-used free runs; exposed for tests and benchmarks of fragmentation. */
  get neverUsedRunCount(): number {
    return this.neverUsed.intervalCount;
  }
}

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}
