import { writeFileSync } from 'node:fs';
import { drizzleViewsModule, recordedViewSpec, type CodegenDialect } from '../codegen/drizzleViews.js';
import type { Config } from '../config/schema.js';
import { openStore } from '../storage/openStore.js';

export interface CodegenOptions {
    /** Write the module here; without it, to `write` (stdout). */
    out?: string | undefined;
}

/**
 * `nango-mirror codegen [--out <file>]`: TypeScript for every generated view, read from the
 * database's record of them (`nango_mirror_views`), so it works without Nango once the daemon has
 * run. See src/codegen/drizzleViews.ts for what the module holds.
 */
export async function codegenCommand(
    config: Config,
    options: CodegenOptions,
    write: (text: string) => void = (t) => process.stdout.write(t),
    note: (line: string) => void = (l) => console.error(l),
): Promise<number> {
    const store = await openStore(config.database);
    try {
        await store.schema.checkReady();
        const records = await store.schema.listGeneratedViews();
        const views = records.map((r) => recordedViewSpec(r.name, r.spec));
        const dialect: CodegenDialect = config.database.url.startsWith('sqlite:') ? { engine: 'sqlite' } : { engine: 'postgres', schema: config.database.schema };
        const text = drizzleViewsModule(views, dialect);
        if (views.length === 0) note('No generated views are recorded yet: start the daemon (sync.views.auto on) and let it mirror a model Nango has a schema for.');
        if (options.out === undefined) write(text);
        else {
            writeFileSync(options.out, text);
            note(`Wrote ${views.length} view(s) and their _all companions to ${options.out}.`);
        }
        return 0;
    } finally {
        await store.close();
    }
}
