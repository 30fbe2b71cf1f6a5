/**
 * MACs as numbers: the lease indexes key on the 48-bit value (exact in a double) instead of the 17-character string,
 * which saves a string per record and lets typed arrays hold them.
 */

/** The key of "no MAC": a declined address has no owner. */
export const NO_MAC = -1;

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) => (b < 16 ? '0' : '') + b.toString(16));

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87; // a-f, A-F
  return -1;
}

/**
 * 'aa:bb:cc:dd:ee:ff' (either case) → 0..2^48-1; '' → NO_MAC; anything else → NaN.
 * Lower and upper case give the same key: a MAC is a number, however it was spelled.
 */
export function macKey(mac: string): number {
  if (mac === '') return NO_MAC;
  if (mac.length !== 17) return Number.NaN;
  let key = 0;
  for (let offset = 0; offset < 17; offset += 3) {
    if (offset > 0 && mac.charCodeAt(offset - 1) !== 58 /* : */) return Number.NaN;
    const high = hexDigit(mac.charCodeAt(offset));
    const low = hexDigit(mac.charCodeAt(offset + 1));
    if (high < 0 || low < 0) return Number.NaN;
    key = key * 256 + high * 16 + low;
  }
  return key;
}

/** The canonical lowercase text of a key from macKey(); '' for NO_MAC. */
export function macText(key: number): string {
  if (key === NO_MAC) return '';
  const high = Math.floor(key / 0x1000000); // first three bytes
  const low = key % 0x1000000;
  return (
    `${HEX_BYTE[high >>> 16]}:${HEX_BYTE[(high >>> 8) & 255]}:${HEX_BYTE[high & 255]}:` +
    `${HEX_BYTE[low >>> 16]}:${HEX_BYTE[(low >>> 8) & 255]}:${HEX_BYTE[low & 255]}`
  );
}
