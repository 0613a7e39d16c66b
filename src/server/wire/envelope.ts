/**
 * The Codeer response envelope (seed 001): every response has this shape. Takes only the parts
 * of a request it reads, so that the client's types can import this module without Fastify.
 */
export function ok<T>(data: T, message: string | null = null) {
  return { data, message, error_code: 0 };
}

export interface Pagination {
  limit: number;
  offset: number;
  total_records: number;
  total_pages: number;
  current_page: number;
  next_page: string | null;
  prev_page: string | null;
}

/** What the links are built from: a Fastify request has these. */
export interface RequestUrl {
  url: string;
  protocol: string;
  host: string;
}

/** The base URL clients reached us at, for absolute pagination links. */
export function baseUrl(request: RequestUrl, publicUrl?: string): string {
  if (publicUrl) return publicUrl.replace(/\/$/, "");
  return `${request.protocol}://${request.host}`;
}

/** Builds seed 001's pagination object, keeping the request's other query parameters in the links. */
export function pagination(
  request: RequestUrl,
  total: number,
  limit: number,
  offset: number,
  publicUrl?: string,
): Pagination {
  const path = request.url.split("?")[0];
  const query = new URLSearchParams(
    request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : "",
  );
  query.delete("offset");
  query.delete("limit");
  const link = (o: number) => {
    const q = new URLSearchParams({ offset: String(o), limit: String(limit) });
    for (const [k, v] of query) q.append(k, v);
    return `${baseUrl(request, publicUrl)}${path}?${q.toString()}`;
  };
  return {
    limit,
    offset,
    total_records: total,
    total_pages: Math.ceil(total / limit),
    current_page: Math.floor(offset / limit) + 1,
    next_page: offset + limit < total ? link(offset + limit) : null,
    prev_page: offset > 0 ? link(Math.max(0, offset - limit)) : null,
  };
}

export function okPage<T>(data: T[], page: Pagination) {
  return { data, message: null, error_code: 0, pagination: page };
}

/** A page of records answered in the envelope with seed 001's pagination (limit/offset from the query). */
export function pageAnswer<R, W>(
  request: RequestUrl & { query: { limit: number; offset: number } },
  page: { rows: R[]; total: number },
  toWire: (row: R) => W,
  publicUrl?: string,
) {
  const { limit, offset } = request.query;
  return okPage(page.rows.map(toWire), pagination(request, page.total, limit, offset, publicUrl));
}
