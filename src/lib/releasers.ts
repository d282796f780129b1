/**
 * What a process acquired, released in reverse order: the composition root adds each resource's
 * release as it acquires it, and both shutdown and a failed start-up run the same list.
 */
export interface Releasers {
    /** Adds a release step; it runs before every step added earlier. */
    add(name: string, release: () => unknown): void;
    /** Runs every step, last added first, once; a failing step is reported and the rest still run. */
    releaseAll(onError?: (name: string, err: unknown) => void): Promise<void>;
}

export function createReleasers(): Releasers {
    const steps: Array<{ name: string; release: () => unknown }> = [];
    let released: Promise<void> | undefined;
    return {
        add(name, release) {
            steps.push({ name, release });
        },
        releaseAll(onError) {
            released ??= (async () => {
                for (const step of steps.reverse()) {
                    try {
                        await step.release();
                    } catch (err) {
                        onError?.(step.name, err);
                    }
                }
            })();
            return released;
        },
    };
}
