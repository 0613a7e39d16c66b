/** The minute `iso` wrote last and its text up to the seconds ("YYYY-MM-DDTHH:MM:"). */
let cachedMinute = Number.NaN;
let cachedPrefix = "";

/** Beyond this a time value is not a Date (toISOString throws): such values take the plain path. */
const MAX_TIME = 8.64e15;

/**
 * ISO 8601 in UTC without milliseconds, as the seeds write timestamps. The text up to the
 * seconds is kept for the last minute written: an export writes a million rows processed within
 * a few minutes, and `toISOString` plus the regex cost ~0.7 µs per row (bench/README.md, issue
 * 17.4 JSONL). Same text as `new Date(ms).toISOString()` without the milliseconds (test/unit/domain.test.ts).
 */
export function iso(ms: number | null): string | null {
  if (ms === null) return null;
  if (!Number.isInteger(ms) || ms > MAX_TIME || ms < -MAX_TIME) {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  const minute = Math.floor(ms / 60_000);
  if (minute !== cachedMinute) {
    // "…HH:MM:00.000Z" without its last 7 characters.
    cachedPrefix = new Date(minute * 60_000).toISOString().slice(0, -7);
    cachedMinute = minute;
  }
  const seconds = Math.floor((ms - minute * 60_000) / 1000);
  return seconds < 10 ? `${cachedPrefix}0${seconds}Z` : `${cachedPrefix}${seconds}Z`;
}
