/**
 * The never-used part of an address pool: disjoint runs [start, end] of free addresses in an AVL tree keyed by start,
 * so that finding, splitting and taking the lowest address are O(log r) for r runs, and a whole /8 is one node.
 * AddressPool (pool.ts) is its only user; runs only shrink or split, never merge.
 */
import type { IPv4 } from '../net/address.ts';

/** AVL node for one run of free addresses [start, end]. */
interface IntervalNode {
  start: number;
  end: number;
  left: IntervalNode | null;
  right: IntervalNode | null;
  height: number;
}

function heightOf(node: IntervalNode | null): number {
  return node === null ? 0 : node.height;
}

function updateHeight(node: IntervalNode): void {
  node.height = 1 + Math.max(heightOf(node.left), heightOf(node.right));
}

function rotateRight(node: IntervalNode): IntervalNode {
  const pivot = node.left as IntervalNode;
  node.left = pivot.right;
  pivot.right = node;
  updateHeight(node);
  updateHeight(pivot);
  return pivot;
}

function rotateLeft(node: IntervalNode): IntervalNode {
  const pivot = node.right as IntervalNode;
  node.right = pivot.left;
  pivot.left = node;
  updateHeight(node);
  updateHeight(pivot);
  return pivot;
}

function rebalance(node: IntervalNode): IntervalNode {
  updateHeight(node);
  const balance = heightOf(node.left) - heightOf(node.right);
  if (balance > 1) {
    const left = node.left as IntervalNode;
    if (heightOf(left.left) < heightOf(left.right)) node.left = rotateLeft(left);
    return rotateRight(node);
  }
  if (balance < -1) {
    const right = node.right as IntervalNode;
    if (heightOf(right.right) < heightOf(right.left)) node.right = rotateRight(right);
    return rotateLeft(node);
  }
  return node;
}

function insertNode(root: IntervalNode | null, start: number, end: number): IntervalNode {
  if (root === null) return { start, end, left: null, right: null, height: 1 };
  if (start < root.start) root.left = insertNode(root.left, start, end);
  else root.right = insertNode(root.right, start, end);
  return rebalance(root);
}

function removeMinNode(root: IntervalNode): IntervalNode | null {
  if (root.left === null) return root.right;
  root.left = removeMinNode(root.left);
  return rebalance(root);
}

function minNode(root: IntervalNode): IntervalNode {
  let node = root;
  while (node.left !== null) node = node.left;
  return node;
}

function removeNode(root: IntervalNode | null, start: number): IntervalNode | null {
  if (root === null) return null;
  if (start < root.start) root.left = removeNode(root.left, start);
  else if (start > root.start) root.right = removeNode(root.right, start);
  else {
    if (root.left === null) return root.right;
    if (root.right === null) return root.left;
    const successor = minNode(root.right);
    root.right = removeMinNode(root.right);
    successor.left = root.left;
    successor.right = root.right;
    return rebalance(successor);
  }
  return rebalance(root);
}

/**
 * Free addresses as disjoint, sorted runs in a balanced tree keyed by run start.
 * Memory is one node per run, so a fresh /8 is one node; every operation is O(log runs).
 * Runs only ever shrink or split (addresses leave this set and never come back), so no merging is needed.
 */
export class FreeIntervals {
  private root: IntervalNode | null;
  private addressCount: number;
  private runCount: number;

  constructor(first: IPv4, last: IPv4) {
    this.root = { start: first, end: last, left: null, right: null, height: 1 };
    this.addressCount = last - first + 1;
    this.runCount = 1;
  }

  get count(): number {
    return this.addressCount;
  }

  get intervalCount(): number {
    return this.runCount;
  }

  has(ip: IPv4): boolean {
    return this.runContaining(ip) !== null;
  }

  /** Removes one address, splitting its run if needed; false when it was not in the set. */
  remove(ip: IPv4): boolean {
    const run = this.runContaining(ip);
    if (run === null) return false;
    if (run.start === run.end) {
      this.root = removeNode(this.root, run.start);
      this.runCount--;
    } else if (ip === run.start) {
      // Raising a start in place keeps the tree ordered: the next run starts after run.end.
      run.start = ip + 1;
    } else if (ip === run.end) {
      run.end = ip - 1;
    } else {
      const tailEnd = run.end;
      run.end = ip - 1;
      this.root = insertNode(this.root, ip + 1, tailEnd);
      this.runCount++;
    }
    this.addressCount--;
    return true;
  }

  removeLowest(): IPv4 | null {
    if (this.root === null) return null;
    const lowest = minNode(this.root).start;
    this.remove(lowest);
    return lowest;
  }

  /** The run with the greatest start <= ip, if it reaches ip. */
  private runContaining(ip: IPv4): IntervalNode | null {
    let node = this.root;
    let candidate: IntervalNode | null = null;
    while (node !== null) {
      if (ip < node.start) node = node.left;
      else {
        candidate = node;
        node = node.right;
      }
    }
    return candidate !== null && ip <= candidate.end ? candidate : null;
  }
}
