/**
 * Insertion-ordered set of numbers with O(1) append, removal of any member and removal of the oldest member: the
 * pool's queue of previously-used free addresses (pool.ts), handed out freed-longest-ago first.
 */
interface LinkNode {
  value: number;
  prev: LinkNode | null;
  next: LinkNode | null;
}

// A plain Map used as a queue (keys().next() + delete) can degrade: V8 leaves deleted slots in place and
// iteration from the front skips them, so a linked list keyed by a Map keeps shift() O(1).
export class OrderedSet {
  private readonly nodes = new Map<number, LinkNode>();
  private head: LinkNode | null = null;
  private tail: LinkNode | null = null;

  get size(): number {
    return this.nodes.size;
  }

  has(value: number): boolean {
    return this.nodes.has(value);
  }

  /** Appends at the end; no-op when already present (keeps its position). */
  push(value: number): void {
    if (this.nodes.has(value)) return;
    const node: LinkNode = { value, prev: this.tail, next: null };
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.nodes.set(value, node);
  }

  delete(value: number): boolean {
    const node = this.nodes.get(value);
    if (node === undefined) return false;
    this.unlink(node);
    this.nodes.delete(value);
    return true;
  }

  shift(): number | undefined {
    const node = this.head;
    if (node === null) return undefined;
    this.unlink(node);
    this.nodes.delete(node.value);
    return node.value;
  }

  *values(): IterableIterator<number> {
    for (let node = this.head; node !== null; node = node.next) yield node.value;
  }

  private unlink(node: LinkNode): void {
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
  }
}
