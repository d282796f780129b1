// Writes what is made from the zod config schema: config.schema.json, and the configuration table
// in README.md (between its config-table markers). Tests fail when either is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { configReferenceTable } from '../src/config/configReference.js';
import { configJsonSchema } from '../src/config/jsonSchema.js';

writeFileSync(new URL('../config.schema.json', import.meta.url), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log('wrote config.schema.json');

const readme = new URL('../README.md', import.meta.url);
const text = readFileSync(readme, 'utf8');
const start = '<!-- config-table:start -->';
const end = '<!-- config-table:end -->';
const from = text.indexOf(start);
const to = text.indexOf(end);
if (from < 0 || to < from) throw new Error(`README.md has no ${start} … ${end} markers`);
writeFileSync(readme, `${text.slice(0, from + start.length)}\n${configReferenceTable()}\n${text.slice(to)}`);
console.log('wrote the configuration table in README.md');
