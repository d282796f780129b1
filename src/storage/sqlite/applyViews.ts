import type Database from 'better-sqlite3';
import type { IndexSpec, ViewSpec } from '../mirrorStore.js';
import { sqliteIndexSql, sqliteViewSql } from './viewSql.js';

/** Drops every view and index the daemon made before, then creates what the config names, in one transaction. */
export function applySqliteViews(sqlite: Database.Database, views: readonly ViewSpec[], indexes: readonly IndexSpec[]): void {
    const previous = sqlite.prepare('SELECT name, kind, definition FROM nango_mirror_views').all() as Array<{ name: string; kind: string; definition: string }>;
    const wanted = new Map<string, { kind: 'view' | 'index'; definition: string }>();
    for (const v of views) wanted.set(v.name, { kind: 'view', definition: sqliteViewSql(v) });
    for (const i of indexes) wanted.set(i.name, { kind: 'index', definition: sqliteIndexSql(i) });
    sqlite.transaction(() => {
        for (const p of previous) {
            if (wanted.get(p.name)?.definition === p.definition) continue;
            sqlite.exec(p.kind === 'view' ? `DROP VIEW IF EXISTS "${p.name}"` : `DROP INDEX IF EXISTS "${p.name}"`);
            sqlite.prepare('DELETE FROM nango_mirror_views WHERE name = ?').run(p.name);
        }
        const kept = new Set(previous.filter((p) => wanted.get(p.name)?.definition === p.definition).map((p) => p.name));
        for (const [name, w] of wanted) {
            if (kept.has(name)) continue;
            if (w.kind === 'view') sqlite.exec(`DROP VIEW IF EXISTS "${name}"`);
            sqlite.exec(w.definition);
            sqlite.prepare('INSERT INTO nango_mirror_views (name, kind, definition) VALUES (?, ?, ?)').run(name, w.kind, w.definition);
        }
    })();
}
