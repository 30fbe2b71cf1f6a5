/**
 * RFC 1035 §3.1 domain-name encoding as DHCP uses it: option 119 (RFC 3397, a list of names with compression pointers
 * relative to the start of the option data) and the client FQDN option 81 (RFC 4702, canonical wire format).
 */

const MAX_LABEL_LENGTH = 63;
const MAX_NAME_LENGTH = 255;
const POINTER_MASK = 0xc0;

/** Splits "a.b.c." into ["a","b","c"]; returns null for empty labels in the middle or over-long labels/names. */
export function nameToLabels(name: string): string[] | null {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return [];
  const labels = trimmed.split('.');
  let wireLength = 1;
  for (const label of labels) {
    const length = Buffer.byteLength(label, 'latin1');
    if (length === 0 || length > MAX_LABEL_LENGTH) return null;
    wireLength += length + 1;
  }
  return wireLength > MAX_NAME_LENGTH ? null : labels;
}

/** Encodes a list of names, compressing repeated suffixes with pointers into the same buffer (RFC 3397). */
export function encodeDomainSearchList(names: readonly string[]): Buffer | null {
  const parts: Buffer[] = [];
  const suffixOffsets = new Map<string, number>();
  let offset = 0;
  for (const name of names) {
    const labels = nameToLabels(name);
    if (labels === null) return null;
    for (let i = 0; i <= labels.length; i++) {
      if (i === labels.length) {
        parts.push(Buffer.from([0]));
        offset += 1;
        break;
      }
      const suffix = labels.slice(i).join('.').toLowerCase();
      const known = suffixOffsets.get(suffix);
      if (known !== undefined && known < 0x3fff) {
        parts.push(Buffer.from([POINTER_MASK | (known >> 8), known & 0xff]));
        offset += 2;
        break;
      }
      suffixOffsets.set(suffix, offset);
      const label = Buffer.from(labels[i] as string, 'latin1');
      parts.push(Buffer.from([label.length]), label);
      offset += 1 + label.length;
    }
  }
  return Buffer.concat(parts);
}

type NameDecodeResult = { ok: true; name: string; end: number } | { ok: false; reason: string };

/**
 * Decodes one name starting at `start` in `data`, following compression pointers (only backwards, bounded), and returns
 * the dotted name without trailing dot and the offset just after the name's own bytes.
 */
export function decodeName(data: Uint8Array, start: number): NameDecodeResult {
  const labels: string[] = [];
  let position = start;
  let end = -1;
  let jumps = 0;
  // Wire length of the name so far, counting the terminating root byte (RFC 1035: 255 octets or less in all).
  let length = 1;
  for (;;) {
    if (position >= data.length) return { ok: false, reason: 'name runs past the end' };
    const lengthByte = data[position] as number;
    if (lengthByte === 0) {
      if (end < 0) end = position + 1;
      break;
    }
    if ((lengthByte & POINTER_MASK) === POINTER_MASK) {
      if (position + 1 >= data.length) return { ok: false, reason: 'truncated compression pointer' };
      const target = ((lengthByte & 0x3f) << 8) | (data[position + 1] as number);
      if (target >= position || ++jumps > 64) return { ok: false, reason: 'compression pointer loop' };
      if (end < 0) end = position + 2;
      position = target;
      continue;
    }
    if ((lengthByte & POINTER_MASK) !== 0) return { ok: false, reason: 'bad label type' };
    if (position + 1 + lengthByte > data.length) return { ok: false, reason: 'label runs past the end' };
    length += lengthByte + 1;
    if (length > MAX_NAME_LENGTH) return { ok: false, reason: 'name too long' };
    labels.push(Buffer.from(data.subarray(position + 1, position + 1 + lengthByte)).toString('latin1'));
    position += 1 + lengthByte;
  }
  return { ok: true, name: labels.join('.'), end };
}

/** Decodes a whole option-119 payload into its names. */
export function decodeDomainSearchList(data: Uint8Array): string[] | null {
  const names: string[] = [];
  let position = 0;
  while (position < data.length) {
    const result = decodeName(data, position);
    if (!result.ok) return null;
    names.push(result.name);
    position = result.end;
  }
  return names;
}

/** Canonical (uncompressed) wire encoding of one name, as option 81 with the E flag uses. */
export function encodeName(name: string): Buffer | null {
  const labels = nameToLabels(name);
  if (labels === null) return null;
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}
