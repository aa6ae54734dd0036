// Number formats and a Markdown table, so the printed report pastes into docs/benchmarks.md as is.

export function rps(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function ratio(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function markdownTable(header: string[], rows: string[][]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => escape(row[column] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => escape(cell).padEnd(widths[column]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
