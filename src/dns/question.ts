/**
 * The one parsed view of a question that every zone answers (CoreDNS's request.Request): the fast path's QueryReader
 * gives it straight from the query's bytes without allocating, `NameQuestion` gives it from a decoded question on the
 * general path. A zone written against this view answers both paths with the same decisions, so UDP and TCP agree.
 */
import type { Question } from './message.ts';
import { typeNumber } from './vocabulary.ts';

/** A zone apex as the views compare it: lower-case text, its wire form (null: no fast-path name is below it), labels. */
export interface ZoneApex {
  readonly name: string;
  readonly wire: Buffer | null;
  readonly labels: number;
}

export interface ZoneQuestion {
  /** The type number (vocabulary.ts `Type`); -1 for a type the server does not know by number (never a zone's). */
  readonly type: number;
  /** Class other than IN or ANY (a zone refuses such a question about its names). */
  readonly otherClass: boolean;
  /** Labels of the name below `apex` when it is at or below it (0: the apex itself), else -1. */
  belowApex(apex: ZoneApex): number;
  /** Label `index` (0 = leftmost), lower-cased. */
  lowerLabelAt(index: number): string;
  /** The whole name, lower-cased, without the trailing dot. */
  lowerName(): string;
  /** The name as asked (case kept), without the trailing dot: the owner of the answer's records. */
  askedName(): string;
}

/** `apex` from its text form, with its wire form when the fast path can read such names (see wireName). */
export function zoneApex(name: string, wire: Buffer | null): ZoneApex {
  return { name, wire, labels: name === '' ? 0 : name.split('.').length };
}

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function isAtOrBelow(name: string, apex: string): boolean {
  return name === apex || name.endsWith(`.${apex}`);
}

/** The general path's view: a question decoded by dns-packet. */
export class NameQuestion implements ZoneQuestion {
  readonly type: number;
  readonly otherClass: boolean;
  private readonly asked: string;
  private readonly lower: string;
  private labels: string[] | null = null;

  constructor(question: Question) {
    this.asked = question.name.replace(/\.$/, '');
    this.lower = this.asked.toLowerCase();
    this.type = typeNumber(question.type) ?? -1;
    this.otherClass = question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY';
  }

  belowApex(apex: ZoneApex): number {
    if (apex.labels === 0) return this.lower === '' ? 0 : this.lower.split('.').length; // the root
    if (!isAtOrBelow(this.lower, apex.name)) return -1;
    return this.lower === apex.name ? 0 : this.lower.slice(0, this.lower.length - apex.name.length - 1).split('.').length;
  }

  lowerLabelAt(index: number): string {
    this.labels ??= this.lower.split('.');
    return this.labels[index] ?? '';
  }

  lowerName(): string {
    return this.lower;
  }

  askedName(): string {
    return this.asked;
  }
}
