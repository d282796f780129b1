import type { PageCommit, PageResult, PullSession } from '../../src/storage/store.js';

/** Writes a page and waits until it is durable, as a pull does for its last page. */
export async function commitPage(session: PullSession, page: PageCommit): Promise<PageResult> {
    const { result, durable } = await session.writePage(page);
    await durable;
    return result;
}
