/** Result rows, their goals, and the printed table. */

export type Goal =
  /** glint / reference must be at least `value`. */
  | { kind: 'ratio-min'; value: number }
  /** glint / reference must be at most `value`. */
  | { kind: 'ratio-max'; value: number }
  /** glint must be at least `value` (in the row's unit). */
  | { kind: 'min'; value: number }
  /** glint must be at most `value`. */
  | { kind: 'max'; value: number }
  /** reported, no goal. */
  | { kind: 'info' };

export type Status = 'PASS' | 'FAIL' | 'n/a' | 'info';

export interface Row {
  metric: string;
  unit: string;
  glint: number | null;
  reference: number | null;
  /** Who the reference is (nginx, Glance, sha512…); null for absolute goals without one. */
  referenceName: string | null;
  ratio: number | null;
  goal: Goal;
  status: Status;
  /** Every run, so the medians can be checked. */
  glintRuns: number[];
  referenceRuns: number[];
  note?: string;
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Builds a row from per-run figures (medians are taken here). A missing glint figure is a FAIL
 * (glint itself could not be measured); a missing reference leaves a ratio goal n/a.
 */
export function makeRow(spec: {
  metric: string;
  unit: string;
  glintRuns: number[];
  referenceRuns?: number[];
  referenceName?: string | null;
  goal: Goal;
  note?: string;
}): Row {
  const glint = median(spec.glintRuns);
  const reference = median(spec.referenceRuns ?? []);
  const ratio = glint !== null && reference !== null && reference > 0 ? glint / reference : null;
  let status: Status;
  const { goal } = spec;
  if (goal.kind === 'info') status = 'info';
  else if (glint === null) status = 'FAIL';
  else if (goal.kind === 'min') status = glint >= goal.value ? 'PASS' : 'FAIL';
  else if (goal.kind === 'max') status = glint <= goal.value ? 'PASS' : 'FAIL';
  else if (ratio === null) status = 'n/a';
  else if (goal.kind === 'ratio-min') status = ratio >= goal.value ? 'PASS' : 'FAIL';
  else status = ratio <= goal.value ? 'PASS' : 'FAIL';
  return {
    metric: spec.metric,
    unit: spec.unit,
    glint,
    reference,
    referenceName: spec.referenceName ?? null,
    ratio,
    goal,
    status,
    glintRuns: spec.glintRuns,
    referenceRuns: spec.referenceRuns ?? [],
    note: spec.note,
  };
}

function formatValue(value: number | null, unit: string): string {
  if (value === null) return 'n/a';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`;
}

export function goalText(row: Row): string {
  const { goal } = row;
  const ref = row.referenceName ?? 'reference';
  switch (goal.kind) {
    case 'ratio-min':
      return goal.value < 1 ? `≥ ${Math.round(goal.value * 100)} % of ${ref}` : `≥ ${goal.value}× ${ref}`;
    case 'ratio-max':
      return goal.value === 1 ? `≤ ${ref}` : `≤ ${goal.value}× ${ref}`;
    case 'min':
      return `≥ ${goal.value.toLocaleString('en-US')} ${row.unit}`;
    case 'max':
      return `≤ ${goal.value.toLocaleString('en-US')} ${row.unit}`;
    default:
      return '—';
  }
}

export function renderTable(rows: Row[]): string {
  const header = ['metric', 'glint', 'reference', 'ratio', 'goal', 'result'];
  const lines = rows.map((row) => [
    row.metric,
    formatValue(row.glint, row.unit),
    row.referenceName === null ? '—' : `${formatValue(row.reference, row.unit)} (${row.referenceName})`,
    row.ratio === null ? (row.referenceName === null ? '—' : 'n/a') : row.ratio.toFixed(2),
    goalText(row),
    row.status,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 1 || i === 2 || i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ');
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...lines.map(fmt)];
  const notes = rows.filter((r) => r.note).map((r) => `  * ${r.metric}: ${r.note}`);
  if (notes.length) out.push('', 'notes:', ...notes);
  return out.join('\n');
}
