import { readdirSync, readFileSync } from 'node:fs';
import type { GeneratedViewRequest } from '../../src/domain/generatedViews.js';
import { parseScriptsConfig, type ScriptsConfigEntry } from '../../src/nango/discovery.js';

/** test/fixtures/scripts-config/: one element of `GET /scripts/config` per file (see its README). */
export const SCRIPTS_CONFIG_FIXTURES = new URL('../fixtures/scripts-config/', import.meta.url);

export interface ScriptsConfigFixture {
    file: string;
    /** The file as JSON, untouched. */
    raw: any;
    /** The file through discovery's parser, as the daemon sees it. */
    entry: ScriptsConfigEntry;
    /** Every (integration, model) of its syncs' `returns`, attributed to the entry's key. */
    requests: GeneratedViewRequest[];
}

export function scriptsConfigFixtures(): ScriptsConfigFixture[] {
    return readdirSync(SCRIPTS_CONFIG_FIXTURES)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((file) => {
            const text = readFileSync(new URL(file, SCRIPTS_CONFIG_FIXTURES), 'utf8');
            const [entry] = parseScriptsConfig(`[${text}]`);
            const requests = entry!.syncs.flatMap((sync) => sync.returns.map((model) => ({ providerConfigKey: entry!.providerConfigKey, model, sync })));
            return { file, raw: JSON.parse(text), entry: entry!, requests };
        });
}
