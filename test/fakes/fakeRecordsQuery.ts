/**
 * Request validation for the fake `GET /records`, mirroring Nango's controller (protocol §4.1):
 * the query string is parsed like `qs` (as Express does) and checked like the `.strict()` zod
 * schema, with zod 4's issue codes and messages, so clients see the same 400 bodies.
 */
import type { IncomingHttpHeaders } from 'node:http';

import type { RecordPredicate } from './fakeRecordTable.js';
import { storeModelName } from './fakeRecordStore.js';
import { ZOD_DATETIME_Z } from './nangoTime.js';

export interface ValidationIssue {
    code: string;
    message: string;
    path: (string | number)[];
}

type RawValue = { kind: 'string'; value: string } | { kind: 'array'; values: string[] } | { kind: 'object' };

export interface RecordsQuery {
    model: string;
    variant?: string;
    storeModel: string;
    /** `delta || modified_after`, already validated. */
    modifiedAfter?: string;
    limit: number;
    filter?: string;
    cursor?: string;
    ids?: string[];
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: ValidationIssue[] };

const QS_ARRAY_LIMIT = 100; // Nango's qs `arrayLimit`
const ALLOWED_KEYS = ['model', 'variant', 'delta', 'modified_after', 'limit', 'filter', 'cursor', 'ids'];
const MODEL_RE = /^[A-Z][a-zA-Z0-9_-]+$/;
const VARIANT_RE = /^[a-zA-Z0-9_-]+$/;
const CONNECTION_ID_RE = /^[a-zA-Z0-9,.;:=+~[\]|@${}"'\\/_ -]+$/;
const PROVIDER_CONFIG_KEY_RE = /^[a-zA-Z0-9~:.@ _-]+$/;
const FILTER_VALUES = ['added', 'updated', 'deleted', 'ADDED', 'UPDATED', 'DELETED'];
const LOOKBACK_MS = 365 * 24 * 60 * 60 * 1000;

/** qs-style parse: `a=1&a=2` and `a[]=1` give arrays, `a[0]=1` too (index ≤ 100), `a[b]=1` an object. */
export function parseQueryString(search: string): Map<string, RawValue> {
    const out = new Map<string, RawValue>();
    const params = new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
    for (const [rawKey, value] of params) {
        if (rawKey === '') continue;
        const m = /^([^[\]]+)\[([^\]]*)\](.*)$/.exec(rawKey);
        const key = m ? m[1]! : rawKey;
        const prev = out.get(key);
        const isArrayKey = m !== null && m[3] === '' && (m[2] === '' || (/^\d+$/.test(m[2]!) && Number(m[2]) <= QS_ARRAY_LIMIT));
        if (m && !isArrayKey) {
            out.set(key, { kind: 'object' });
        } else if (prev?.kind === 'object') {
            continue;
        } else if (prev || isArrayKey) {
            const values = prev?.kind === 'array' ? prev.values : prev?.kind === 'string' ? [prev.value] : [];
            values.push(value);
            out.set(key, { kind: 'array', values });
        } else {
            out.set(key, { kind: 'string', value });
        }
    }
    return out;
}

function typeIssue(path: string, expected: string, received: string): ValidationIssue {
    return { code: 'invalid_type', message: `Invalid input: expected ${expected}, received ${received}`, path: [path] };
}

function received(raw: RawValue | undefined): string {
    return raw === undefined ? 'undefined' : raw.kind === 'string' ? 'string' : raw.kind;
}

function checkLength(path: (string | number)[], value: string, min: number, max: number, issues: ValidationIssue[]): void {
    if (value.length < min) issues.push({ code: 'too_small', message: `Too small: expected string to have >=${min} characters`, path });
    if (value.length > max) issues.push({ code: 'too_big', message: `Too big: expected string to have <=${max} characters`, path });
}

function checkPattern(path: string, value: string, re: RegExp, issues: ValidationIssue[]): void {
    if (!re.test(value)) issues.push({ code: 'invalid_format', message: `Invalid string: must match pattern ${String(re)}`, path: [path] });
}

/** Validates like Nango's `validationQuery`; `nowMs` anchors the 12-month lookback. */
export function validateRecordsQuery(raw: Map<string, RawValue>, nowMs: number): Validated<RecordsQuery> {
    const issues: ValidationIssue[] = [];
    const str = (key: string, optional: boolean): string | undefined => {
        const v = raw.get(key);
        if (v?.kind === 'string') return v.value;
        if (v !== undefined || !optional) issues.push(typeIssue(key, 'string', received(v)));
        return undefined;
    };

    const model = str('model', false);
    if (model !== undefined) {
        checkPattern('model', model, MODEL_RE, issues);
        checkLength(['model'], model, 0, 255, issues);
    }
    const variant = str('variant', true);
    if (variant !== undefined) {
        checkPattern('variant', variant, VARIANT_RE, issues);
        checkLength(['variant'], variant, 0, 255, issues);
    }
    const datetime = (key: string): string | undefined => {
        const v = str(key, true);
        if (v === undefined) return undefined;
        if (!ZOD_DATETIME_Z.test(v)) {
            issues.push({ code: 'invalid_format', message: 'Invalid ISO datetime', path: [key] });
        } else if (new Date(v).getTime() < nowMs - LOOKBACK_MS) {
            issues.push({ code: 'custom', message: 'must be within the last 12 months', path: [key] });
        }
        return v;
    };
    const delta = datetime('delta');
    const modifiedAfter = datetime('modified_after');

    // z.coerce.number(): Number(value); an array coerces through its string form.
    let limit = 100;
    const rawLimit = raw.get('limit');
    if (rawLimit !== undefined) {
        limit = Number(rawLimit.kind === 'string' ? rawLimit.value : rawLimit.kind === 'array' ? rawLimit.values.join(',') : NaN);
        if (!Number.isFinite(limit)) {
            issues.push(typeIssue('limit', 'number', Number.isNaN(limit) ? 'NaN' : 'Infinity'));
        } else if (limit < 1) {
            issues.push({ code: 'too_small', message: 'Too small: expected number to be >=1', path: ['limit'] });
        } else if (limit > 10000) {
            issues.push({ code: 'too_big', message: 'Too big: expected number to be <=10000', path: ['limit'] });
        }
    }

    const filter = str('filter', true);
    if (filter !== undefined) {
        filter.split(',').forEach((part, i) => {
            if (!FILTER_VALUES.includes(part)) {
                const options = FILTER_VALUES.map((f) => `"${f}"`).join('|');
                issues.push({ code: 'invalid_value', message: `Invalid option: expected one of ${options}`, path: ['filter', i] });
            }
        });
    }

    const cursor = str('cursor', true);
    if (cursor !== undefined) checkLength(['cursor'], cursor, 1, 1000, issues);

    let ids: string[] | undefined;
    const rawIds = raw.get('ids');
    if (rawIds?.kind === 'string') {
        checkLength(['ids'], rawIds.value, 1, 256, issues);
        ids = [rawIds.value];
    } else if (rawIds !== undefined) {
        const values = rawIds.kind === 'array' ? rawIds.values : undefined;
        if (!values || values.length > 100 || values.some((v) => v.length < 1 || v.length > 256)) {
            issues.push({ code: 'invalid_union', message: 'Invalid input', path: ['ids'] });
        }
        ids = values;
    }

    const unknown = [...raw.keys()].filter((k) => !ALLOWED_KEYS.includes(k));
    if (unknown.length > 0) {
        const list = unknown.map((k) => `"${k}"`).join(', ');
        issues.push({ code: 'unrecognized_keys', message: `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${list}`, path: [] });
    }

    if (issues.length > 0 || model === undefined) return { ok: false, errors: issues };
    const since = delta || modifiedAfter;
    return {
        ok: true,
        value: {
            model,
            ...(variant !== undefined ? { variant } : {}),
            storeModel: storeModelName(model, variant),
            ...(since ? { modifiedAfter: since } : {}),
            limit,
            ...(filter !== undefined ? { filter } : {}),
            ...(cursor !== undefined ? { cursor } : {}),
            ...(ids !== undefined ? { ids } : {})
        }
    };
}

/** `Connection-Id` and `Provider-Config-Key`, validated like Nango's `validationHeaders`. */
export function validateRecordsHeaders(headers: IncomingHttpHeaders): Validated<{ connectionId: string; providerConfigKey: string }> {
    const issues: ValidationIssue[] = [];
    const read = (name: string, re: RegExp): string | undefined => {
        const v = headers[name];
        if (typeof v !== 'string') {
            issues.push(typeIssue(name, 'string', v === undefined ? 'undefined' : 'array'));
            return undefined;
        }
        checkPattern(name, v, re, issues);
        checkLength([name], v, 0, 255, issues);
        return v;
    };
    const connectionId = read('connection-id', CONNECTION_ID_RE);
    const providerConfigKey = read('provider-config-key', PROVIDER_CONFIG_KEY_RE);
    if (issues.length > 0 || connectionId === undefined || providerConfigKey === undefined) return { ok: false, errors: issues };
    return { ok: true, value: { connectionId, providerConfigKey } };
}

/**
 * The `filter` switch of Nango's postgres getRecords, quirks included: combinations do not
 * union (`added,deleted` → ADDED rows only) and an unmatched combination filters nothing.
 */
export function filterPredicate(filter: string): RecordPredicate | undefined {
    const f = filter.toUpperCase();
    const live: RecordPredicate = (r) => r.deletedAt === null;
    const added: RecordPredicate = (r) => r.deletedAt === null && r.createdAt === r.updatedAt;
    const updated: RecordPredicate = (r) => r.deletedAt === null && r.createdAt !== r.updatedAt;
    if (f.includes('ADDED') && f.includes('UPDATED')) return live;
    if (f.includes('UPDATED') && f.includes('DELETED')) return updated;
    if (f.includes('ADDED') && f.includes('DELETED')) return added;
    if (f === 'ADDED') return added;
    if (f === 'UPDATED') return updated;
    if (f === 'DELETED') return (r) => r.deletedAt !== null;
    return undefined;
}
