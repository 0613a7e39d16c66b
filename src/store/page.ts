/** Offset pages, as the Codeer lists use them (`limit`, `offset`, `total_records`). */

export interface PageQuery {
  limit: number;
  offset: number;
}

export interface Page<T> {
  rows: T[];
  total: number;
}
