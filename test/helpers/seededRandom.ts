/** A small seeded PRNG (mulberry32) for soak and crash tests: print the seed, replay it from the env. */
export interface SeededRandom {
    seed: number;
    /** [0, 1) */
    next(): number;
    /** An integer in [0, n). */
    int(n: number): number;
    pick<T>(items: readonly T[]): T;
}

export function seededRandom(seed: number): SeededRandom {
    let a = seed >>> 0;
    const next = (): number => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return {
        seed,
        next,
        int: (n) => Math.floor(next() * n),
        pick: (items) => items[Math.floor(next() * items.length)]!,
    };
}

/** The first of `envNames` that is set (a number), else a fresh random seed. */
export function seedFromEnv(...envNames: string[]): number {
    for (const name of envNames) {
        const v = process.env[name];
        if (v !== undefined && v !== '') {
            const n = Number(v);
            if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${v}`);
            return n >>> 0;
        }
    }
    return Math.floor(Math.random() * 2 ** 32) >>> 0;
}
