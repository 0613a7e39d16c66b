import type { RequestOptions, Transport } from "./http.js";
import { PageIterator } from "./pagination.js";
import type { Envelope, Page, PageParams } from "./types.js";

/** `encodeURIComponent`, short: every id in a path goes through it. */
export const enc = encodeURIComponent;

/** What every resource of the client shares: the transport, and reading the envelope. */
export class Resource {
  constructor(protected readonly http: Transport) {}

  protected async data<T>(req: RequestOptions): Promise<T> {
    return (await this.http.json<Envelope<T>>(req)).data;
  }

  protected async page<T>(req: RequestOptions): Promise<Page<T>> {
    const env = await this.http.json<Envelope<T[]>>(req);
    const data = env.data ?? [];
    return {
      data,
      pagination: env.pagination ?? {
        limit: data.length,
        offset: 0,
        total_records: data.length,
        total_pages: 1,
        current_page: 1,
        next_page: null,
        prev_page: null,
      },
    };
  }

  protected paged<T>(path: string, params: PageParams, query: RequestOptions["query"] = {}): PageIterator<T> {
    return new PageIterator<T>(
      (p) => this.page<T>({ method: "GET", path, query: { ...query, limit: p.limit, offset: p.offset } }),
      params,
    );
  }
}
