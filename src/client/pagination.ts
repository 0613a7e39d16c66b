import type { Page, PageParams } from "./types.js";

/**
 * A list that pages itself: `for await (const x of list)` walks every item, fetching pages of
 * `limit` with offset arithmetic; `page()` fetches one page with its pagination; `pages()`
 * walks page by page. Offsets follow a list that may change meanwhile: an item created while
 * a newest-first list is walked can shift one item onto the next page twice.
 */
export class PageIterator<T> implements AsyncIterable<T> {
  constructor(
    private readonly fetchPage: (page: Required<PageParams>) => Promise<Page<T>>,
    private readonly params: PageParams = {},
  ) {}

  /** One page: `offset`/`limit` from the call, else those the list was made with. */
  page(params: PageParams = {}): Promise<Page<T>> {
    return this.fetchPage({
      limit: params.limit ?? this.params.limit ?? 50,
      offset: params.offset ?? this.params.offset ?? 0,
    });
  }

  async *pages(): AsyncGenerator<Page<T>> {
    let offset = this.params.offset ?? 0;
    const limit = this.params.limit ?? 100;
    for (;;) {
      const page = await this.fetchPage({ limit, offset });
      if (page.data.length > 0) yield page;
      offset += page.data.length;
      if (page.data.length === 0 || page.pagination.next_page === null) return;
      if (offset >= page.pagination.total_records) return;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Every item in one array (mind the size of what you ask for). */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const x of this) out.push(x);
    return out;
  }
}
