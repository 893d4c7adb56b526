// The shape every benchmark module returns: free-form JSON details plus table rows, each row a
// figure beside the baseline it is compared with in the same run.
export interface BenchRow {
  metric: string;
  value: number;
  unit: string;
  /** The same quantity for the baseline (plain UDP, libwebrtc, no FEC, ...), measured in this run. */
  baseline?: number;
  baselineName?: string;
}

export interface BenchResult {
  table: BenchRow[];
  details: Record<string, unknown>;
}

export interface BenchModule {
  run(): Promise<BenchResult>;
}

/** Median and percentiles of a sample, for the table rows. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}
