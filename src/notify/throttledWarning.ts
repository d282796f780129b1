/** A warning logged at once on the first hit, then at most once per interval with the hits since. */
export interface ThrottledWarning {
    hit(): void;
    /** Emits the hits not reported yet now. */
    flush(): void;
    /** Forgets the hits not emitted yet (the caller reports them another way). */
    discard(): void;
}

export function throttledWarning(intervalMs: number, emit: (count: number) => void): ThrottledWarning {
    let count = 0;
    let last = -Infinity;
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
        clearTimeout(timer);
        timer = undefined;
        if (count === 0) return;
        const n = count;
        count = 0;
        last = Date.now();
        emit(n);
    };
    return {
        hit() {
            count++;
            if (timer) return;
            const wait = last + intervalMs - Date.now();
            if (wait <= 0) flush();
            else {
                timer = setTimeout(flush, wait);
                timer.unref();
            }
        },
        flush,
        discard() {
            clearTimeout(timer);
            timer = undefined;
            count = 0;
        },
    };
}
