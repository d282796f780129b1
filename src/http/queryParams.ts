import { z } from 'zod';
import { NANGO_NAME_MAX_LENGTH } from '../domain/nangoNames.js';

/** A query parameter that must be a whole number from `min` to `max` (digits only: no sign, no exponent). */
export const wholeNumberParam = (min: number, max: number) =>
    z
        .string()
        .regex(/^\d{1,16}$/, 'expected a whole number')
        .transform(Number)
        .pipe(z.number().int().min(min).max(max));

/** An integration or connection id in a query: Nango's own length limit. */
export const nameParam = z.string().min(1).max(NANGO_NAME_MAX_LENGTH);
