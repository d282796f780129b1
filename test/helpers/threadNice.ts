import { readdirSync, readFileSync } from 'node:fs';

/** The nice value of each live thread of this process, by thread id (/proc/self/task/<tid>/stat, field 19). */
export function threadNices(): Map<number, number> {
    const nices = new Map<number, number>();
    for (const tid of readdirSync('/proc/self/task')) {
        let stat: string;
        try {
            stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        } catch {
            continue; // the thread exited meanwhile
        }
        nices.set(Number(tid), Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[16]));
    }
    return nices;
}

/** Threads of this process at `nice`. */
export const threadsAtNice = (nice: number): number => [...threadNices().values()].filter((n) => n === nice).length;
