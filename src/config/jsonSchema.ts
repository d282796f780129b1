import { z } from 'zod';
import { configSchema } from './schema.js';

/** The JSON Schema of the config file, for editors; generated from the zod schema so they never drift. */
export function configJsonSchema(): Record<string, unknown> {
    return z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
}
