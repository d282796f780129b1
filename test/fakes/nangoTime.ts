/**
 * Microsecond time helpers for the fake Nango.
 *
 * Nango's records store keeps `timestamptz` (microsecond precision) and renders
 * them with Postgres `to_json()`, e.g. `2026-04-14T18:46:03.097459+00:00`.
 * JS Dates only hold milliseconds, so the fake keeps epoch microseconds as bigint.
 */

const MICROS_PER_SECOND = 1_000_000n;

/** A clock returning epoch microseconds; `advance` jumps it forward (e.g. "30 days later"). */
export interface MicroClock {
    (): bigint;
    advance(deltaMicros: bigint): void;
}

/** Wall-clock epoch microseconds (sub-millisecond digits come from the monotonic timer). */
export function wallClockMicros(): bigint {
    return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

/**
 * A monotonic microsecond clock: `startMicros` (default: now) plus real elapsed time,
 * and strictly increasing across calls even when called twice in the same microsecond.
 */
export function createMicroClock(startMicros?: bigint): MicroClock {
    let base = startMicros ?? wallClockMicros();
    const hr0 = process.hrtime.bigint();
    let last = base - 1n;
    const clock = (): bigint => {
        const t = base + (process.hrtime.bigint() - hr0) / 1000n;
        last = t > last ? t : last + 1n;
        return last;
    };
    clock.advance = (deltaMicros: bigint): void => {
        base += deltaMicros;
    };
    return clock;
}

// One-entry cache: a mutation renders the same timestamp for every record it touches.
let cachedMicros: bigint | undefined;
let cachedJson = '';

/**
 * Formats epoch microseconds like Postgres `to_json(timestamptz)` in a UTC session:
 * `2026-04-14T18:46:03.097459+00:00`; trailing fraction zeros trimmed, fraction omitted when zero.
 */
export function toPostgresJson(micros: bigint): string {
    if (micros === cachedMicros) return cachedJson;
    let seconds = micros / MICROS_PER_SECOND;
    let fraction = micros % MICROS_PER_SECOND;
    if (fraction < 0n) {
        fraction += MICROS_PER_SECOND;
        seconds -= 1n;
    }
    const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
    const frac = fraction === 0n ? '' : `.${fraction.toString().padStart(6, '0').replace(/0+$/, '')}`;
    cachedMicros = micros;
    cachedJson = `${base}${frac}+00:00`;
    return cachedJson;
}

/** Formats epoch microseconds as a JS ISO string (`…sssZ`, truncated to ms), e.g. for `modified_after`. */
export function toIsoMillis(micros: bigint): string {
    const ms = micros >= 0n ? micros / 1000n : -((-micros + 999n) / 1000n);
    return new Date(Number(ms)).toISOString();
}

/** Epoch microseconds of a JS Date (or ms number); sub-ms digits are zero. */
export function microsFromDate(date: Date | number): bigint {
    return BigInt(typeof date === 'number' ? date : date.getTime()) * 1000n;
}

// zod 4.0.x `datetime()` building blocks (Nango validates cursors and modified_after with zod).
const DATE_SOURCE =
    '(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))';
const TIME_SOURCE = '(?:[01]\\d|2[0-3]):[0-5]\\d(?::[0-5]\\d(?:\\.\\d+)?)?';
/** `z.string().datetime()`: `Z` only, seconds optional, any fraction length. */
export const ZOD_DATETIME_Z = new RegExp(`^${DATE_SOURCE}T(?:${TIME_SOURCE}(?:Z))$`);
/** `z.string().datetime({offset: true})`: `Z` or `±HH:MM`. */
export const ZOD_DATETIME_OFFSET = new RegExp(`^${DATE_SOURCE}T(?:${TIME_SOURCE}(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$`);

const PARTS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses an ISO datetime with `Z` or a `±HH:MM` offset (what a Nango cursor carries) into
 * epoch microseconds, as a Postgres `timestamptz` cast would (fraction rounded to µs).
 * Returns undefined when the string is not a zod-valid offset datetime.
 */
export function parseOffsetDatetimeMicros(value: string): bigint | undefined {
    if (!ZOD_DATETIME_OFFSET.test(value)) return undefined;
    const m = PARTS.exec(value);
    if (!m) return undefined;
    const [, y, mo, d, h, mi, s, frac, zone] = m;
    const date = new Date(Date.UTC(2000, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? '0')));
    date.setUTCFullYear(Number(y)); // Date.UTC maps years 0..99 to 19xx
    let micros = BigInt(date.getTime() / 1000) * MICROS_PER_SECOND;
    if (frac) {
        const digits = `${frac}0000000`.slice(0, 7);
        micros += (BigInt(digits) + 5n) / 10n; // round the 7th digit half up
    }
    if (zone && zone !== 'Z') {
        const sign = zone.startsWith('-') ? -1n : 1n;
        const offsetMinutes = BigInt(Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
        micros -= sign * offsetMinutes * 60n * MICROS_PER_SECOND;
    }
    return micros;
}
