// Terminal table, SVG chart of the ratios and the generated section of docs/performance.md.

export interface Row {
  /** e.g. "DHCP known clients: max rate (DORA/s)". */
  metric: string;
  unit: string;
  /** true when a higher value is better (rates); false for latencies and memory. */
  higherIsBetter: boolean;
  lxcLabel: string;
  lxc: number | null;
  peer: string;
  peerValue: number | null;
  note?: string;
}

function ratio(r: Row): number | null {
  if (r.lxc === null || r.peerValue === null || r.peerValue === 0) return null;
  return r.lxc / r.peerValue;
}

function fmt(v: number | null, unit: string): string {
  if (v === null || !Number.isFinite(v)) return '—';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  return `${v.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

function fmtRatio(r: Row): string {
  const x = ratio(r);
  if (x === null) return '—';
  if (Math.abs(x - 1) < 0.02) return `${x.toFixed(2)}× (same)`;
  const better = r.higherIsBetter ? x > 1 : x < 1;
  return `${x.toFixed(2)}× ${better ? '(better)' : '(worse)'}`;
}

/** Rows of cells, first row the header. */
function tableCells(rows: Row[]): string[][] {
  const cells = [['measurement', 'lxc-dhcpd', 'value', 'peer', 'value', 'lxc-dhcpd/peer']];
  for (const r of rows) {
    cells.push([r.metric, r.lxcLabel, fmt(r.lxc, r.unit), r.peer, fmt(r.peerValue, r.unit), r.peer === '' ? '' : fmtRatio(r)]);
  }
  return cells;
}

export function textTable(rows: Row[]): string {
  const cells = tableCells(rows);
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string =>
    row
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of cells.slice(1)) out.push(line(row));
  return out.join('\n');
}

export function markdownTable(rows: Row[]): string {
  const cells = tableCells(rows);
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [`| ${cells[0]!.map(esc).join(' | ')} |`, `|${cells[0]!.map(() => ' --- ').join('|')}|`];
  for (const row of cells.slice(1)) out.push(`| ${row.map(esc).join(' | ')} |`);
  return out.join('\n');
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Horizontal bars of "how many times better lxc-dhcpd is" on a log scale: for rates lxc/peer, for latencies and
 * memory peer/lxc, so right of 1× always means lxc-dhcpd is better.
 */
export function ratioSvg(rows: Row[], title: string): string {
  const items = rows
    .map((r) => ({ r, x: ratio(r) }))
    .filter((i): i is { r: Row; x: number } => i.x !== null && i.x > 0)
    // Name the lxc-dhcpd variant when it is not the default one (e.g. "--no-probe"), so two bars never read alike.
    .map(({ r, x }) => ({
      label: `${r.metric}${r.lxcLabel === 'lxc-dhcpd' ? '' : ` (${r.lxcLabel.replace(/^lxc-dhcpd\s*/, '')})`} vs ${r.peer}`,
      better: r.higherIsBetter ? x : 1 / x,
    }));
  const rowH = 22;
  const labelW = 520;
  const plotW = 420;
  const top = 50;
  const height = top + items.length * rowH + 50;
  const width = labelW + plotW + 90;
  const minLog = -2; // 0.01×
  const maxLog = 2; // 100×
  const xOf = (v: number): number => {
    const l = Math.min(maxLog, Math.max(minLog, Math.log10(v)));
    return labelW + ((l - minLog) / (maxLog - minLog)) * plotW;
  };
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="20" font-size="14" font-weight="bold">${xmlEscape(title)}</text>`);
  parts.push(`<text x="10" y="38" fill="#555">how many times better lxc-dhcpd is (log scale; right of 1× = lxc-dhcpd better, left = worse)</text>`);
  for (const tick of [0.01, 0.1, 1, 10, 100]) {
    const x = xOf(tick);
    parts.push(`<line x1="${x}" y1="${top - 5}" x2="${x}" y2="${top + items.length * rowH}" stroke="${tick === 1 ? '#000' : '#ccc'}"/>`);
    parts.push(`<text x="${x}" y="${top + items.length * rowH + 16}" text-anchor="middle">${tick}×</text>`);
  }
  items.forEach((item, i) => {
    const y = top + i * rowH;
    const x1 = xOf(1);
    const x2 = xOf(item.better);
    const color = item.better >= 1 ? '#2e7d32' : '#c62828';
    parts.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${xmlEscape(item.label)}</text>`);
    parts.push(`<rect x="${Math.min(x1, x2)}" y="${y + 4}" width="${Math.max(1, Math.abs(x2 - x1))}" height="${rowH - 8}" fill="${color}"/>`);
    parts.push(`<text x="${Math.max(x1, x2) + 4}" y="${y + 15}">${item.better.toFixed(2)}×</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
