/** ISO 8601 in UTC without milliseconds, as the seeds write timestamps. */
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
