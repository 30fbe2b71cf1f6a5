/**
 * Names and questions in wire form, shared by the fast path (which reads queries as bytes), the zones (whose apexes it
 * compares against) and the forwarder's cache (which indexes answers by the question's wire form). Neutral ground: it
 * imports only the vocabulary, so none of those has to import another to agree on a key.
 */
import { CLASS_IN, typeNumber } from './vocabulary.ts';

/** Letters, digits, hyphen and underscore: the only name bytes the fast path reads (anything else goes the general way). */
export function isHostnameByte(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
}

export function lowerAscii(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/**
 * `name` in wire form, lower-cased, root label included; null unless every label is 1–63 letters, digits, hyphens
 * or underscores (the only names QueryReader accepts) and the whole fits 255 bytes.
 */
export function wireName(name: string): Buffer | null {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = trimmed === '' ? [] : trimmed.split('.');
  const bytes: number[] = [];
  for (const label of labels) {
    if (label.length === 0 || label.length > 63) return null;
    bytes.push(label.length);
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      if (!isHostnameByte(c)) return null;
      bytes.push(lowerAscii(c));
    }
  }
  bytes.push(0);
  return bytes.length > 255 ? null : Buffer.from(bytes);
}

/**
 * The wire answer cache's key for a question (QueryReader.wireKey builds the same from the bytes): wire name, type and
 * class IN, lower-cased, as latin1; null for questions QueryReader never accepts.
 */
export function wireQuestionKey(name: string, type: string, questionClass: string | undefined): string | null {
  const n = typeNumber(type);
  if (n === undefined || (questionClass ?? 'IN') !== 'IN') return null;
  const encoded = wireName(name);
  if (encoded === null || encoded.length === 1) return null;
  return encoded.toString('latin1') + String.fromCharCode(n >>> 8, n & 0xff, 0, CLASS_IN);
}

/** Cached records in wire form, as forward/cache.ts keeps them: TTLs are patched on the way out. */
export interface WireRecords {
  readonly rcode: number;
  readonly answerCount: number;
  readonly authorityCount: number;
  readonly additionalCount: number;
  /** The records back to back, names uncompressed. */
  readonly bytes: Buffer;
  /** Where each record's TTL lies in `bytes`. */
  readonly ttlOffsets: Uint16Array;
  /** Each record's TTL when stored (already capped at the cache entry's TTL). */
  readonly ttls: Uint32Array;
}
