import type { SyncKey } from '../domain/syncKey.js';

/** One undelivered notice. It sits in two lists: every notice by age, and its key's lane in order. */
export interface BacklogEntry {
    readonly lane: string;
    readonly key: SyncKey;
    readonly body: string;
    /** A POST of this notice is in flight: it cannot be dropped until it settles. */
    sending: boolean;
    older: BacklogEntry | undefined;
    newer: BacklogEntry | undefined;
    laneOlder: BacklogEntry | undefined;
    laneNewer: BacklogEntry | undefined;
}

interface Lane {
    head: BacklogEntry | undefined;
    tail: BacklogEntry | undefined;
}

/**
 * The notices not yet delivered: a FIFO per key (lane) plus one list of all of them by age, both
 * doubly linked, so adding, delivering the head of a lane and dropping the oldest are O(1).
 * Only a lane's head is ever being sent, so the oldest notice that is not being sent is found by
 * skipping at most as many entries as there are POSTs in flight.
 */
export class NoticeBacklog {
    private readonly lanes = new Map<string, Lane>();
    private oldest: BacklogEntry | undefined;
    private newest: BacklogEntry | undefined;
    /** Every undelivered notice, those being sent included. */
    size = 0;
    /** Notices whose POST is in flight. */
    sending = 0;

    /** Notices waiting: not delivered and not being sent. */
    get waiting(): number {
        return this.size - this.sending;
    }

    push(lane: string, key: SyncKey, body: string): BacklogEntry {
        const entry: BacklogEntry = { lane, key, body, sending: false, older: this.newest, newer: undefined, laneOlder: undefined, laneNewer: undefined };
        if (this.newest) this.newest.newer = entry;
        else this.oldest = entry;
        this.newest = entry;
        let l = this.lanes.get(lane);
        if (!l) {
            l = { head: undefined, tail: undefined };
            this.lanes.set(lane, l);
        }
        entry.laneOlder = l.tail;
        if (l.tail) l.tail.laneNewer = entry;
        else l.head = entry;
        l.tail = entry;
        this.size++;
        return entry;
    }

    /** The lane's next notice to send, if any. */
    head(lane: string): BacklogEntry | undefined {
        return this.lanes.get(lane)?.head;
    }

    setSending(entry: BacklogEntry, sending: boolean): void {
        if (entry.sending === sending) return;
        entry.sending = sending;
        this.sending += sending ? 1 : -1;
    }

    /** The oldest notice not being sent: the one to drop when the backlog is full. */
    oldestWaiting(): BacklogEntry | undefined {
        let e = this.oldest;
        while (e?.sending) e = e.newer;
        return e;
    }

    /** Takes a notice out (delivered or dropped). */
    remove(entry: BacklogEntry): void {
        this.setSending(entry, false);
        if (entry.older) entry.older.newer = entry.newer;
        else this.oldest = entry.newer;
        if (entry.newer) entry.newer.older = entry.older;
        else this.newest = entry.older;
        const l = this.lanes.get(entry.lane);
        if (l) {
            if (entry.laneOlder) entry.laneOlder.laneNewer = entry.laneNewer;
            else l.head = entry.laneNewer;
            if (entry.laneNewer) entry.laneNewer.laneOlder = entry.laneOlder;
            else l.tail = entry.laneOlder;
            if (!l.head) this.lanes.delete(entry.lane);
        }
        entry.older = entry.newer = entry.laneOlder = entry.laneNewer = undefined;
        this.size--;
    }

    /** Bodies of the undelivered notices, oldest first (tests, diagnostics; O(n)). */
    bodies(): string[] {
        const out: string[] = [];
        for (let e = this.oldest; e; e = e.newer) out.push(e.body);
        return out;
    }
}
