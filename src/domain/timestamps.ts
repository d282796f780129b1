/**
 * Timestamps as the mirror stores them: UTC ISO-8601 with exactly six fraction digits
 * (`2026-11-22T10:00:00.123456Z`), so text order is time order and no microsecond is lost.
 * Nango sends Postgres `to_json(timestamptz)` text (`2026-04-14T18:46:03.097459+00:00`, trailing
 * zeros trimmed); a JS Date would drop the last three digits, so this works on the text.
 */

const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)$/;

export class TimestampError extends Error {
    override readonly name = 'TimestampError';
}

/** Normalizes an ISO/Postgres timestamp with any offset to `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function toMicroIso(value: string): string {
    const m = ISO.exec(value);
    if (!m) throw new TimestampError(`Expected an ISO-8601 timestamp, got ${JSON.stringify(value)}`);
    const [, date, hh, mm, ss, fraction = '', offset] = m as unknown as [string, string, string, string, string, string | undefined, string];
    const micros = (fraction + '000000').slice(0, 6);
    if (offset === 'Z' || offset === '+00:00' || offset === '+00' || offset === '-00:00' || offset === '+0000') {
        return `${date}T${hh}:${mm}:${ss}.${micros}Z`;
    }
    const sign = offset.startsWith('-') ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    const offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
    const utcMs = Date.parse(`${date}T${hh}:${mm}:${ss}Z`) - offsetMinutes * 60_000;
    if (Number.isNaN(utcMs)) throw new TimestampError(`Expected an ISO-8601 timestamp, got ${JSON.stringify(value)}`);
    return `${new Date(utcMs).toISOString().slice(0, 19)}.${micros}Z`;
}

export function toMicroIsoOrNull(value: string | null | undefined): string | null {
    return value == null ? null : toMicroIso(value);
}

/** A JS Date in the mirror's format (Dates carry milliseconds, so the last three digits are 0). */
export function dateToMicroIso(date: Date): string {
    return `${date.toISOString().slice(0, 23)}000Z`;
}
