// Order statistics the benches report.

/** The value below which a share `p` of `values` lie (nearest rank); NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

export const median = (values: readonly number[]): number => percentile(values, 0.5);
