/**
 * Re-implementation of fast-safe-stringify@2.1.1 `stableStringify`, which Nango's
 * `stringifyStable` uses to serialize webhook bodies before signing them (protocol §2.2).
 *
 * Behaviour kept from the original:
 * - object keys sorted with `Object.keys(v).sort()` at every level, then plain JSON.stringify
 *   (rebuilding an object puts integer-like keys first in numeric order, as V8 does);
 * - no whitespace, `undefined` properties dropped, arrays keep their order;
 * - objects with a `toJSON` method (e.g. Date) are left to JSON.stringify, unsorted;
 * - circular references become the string "[Circular]".
 */
export function stableStringify(value: unknown): string {
    const out = JSON.stringify(sortDeep(value, []));
    // JSON.stringify(undefined) is undefined; the original returns it too, but a body must be a string.
    return out ?? '';
}

function sortDeep(value: unknown, stack: object[]): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (stack.includes(value)) return '[Circular]';
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
    stack.push(value);
    let result: unknown;
    if (Array.isArray(value)) {
        result = value.map((item) => sortDeep(item, stack));
    } else {
        const sorted: Record<string, unknown> = {};
        const source = value as Record<string, unknown>;
        for (const key of Object.keys(source).sort()) {
            sorted[key] = sortDeep(source[key], stack);
        }
        result = sorted;
    }
    stack.pop();
    return result;
}
