/** What the batch page reads besides the live batch: the status map, chart history, rates. */
import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import { samplesFromResults } from "../components/chart";
import type { Sample } from "../live";
import { type Batch, type BatchResult, ITEM_STATUSES, type ItemStatus, isFinal } from "../types";

const STATUSES: readonly ItemStatus[] = ITEM_STATUSES;
/** custom_ids drawn per status in the status map. */
const MAP_LIMIT = 500;
/** How often results, status map and chart history are re-read while the batch runs. */
const REFRESH_MS = 2000;

type StatusMapData = Record<ItemStatus, string[]> & { counts: Record<ItemStatus, number> };

export interface StatusMapGroups {
  groups: Partial<Record<ItemStatus, string[]>>;
  truncated: boolean;
}

/** A number that grows every two seconds while the batch runs, and when its status changes. */
export function useRefreshVersion(batch: Batch | null): number {
  const [version, setVersion] = useState(0);
  const active = batch !== null && !isFinal(batch.status);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setVersion((v) => v + 1), REFRESH_MS);
    return () => clearInterval(t);
  }, [active]);
  useEffect(() => setVersion((v) => v + 1), [batch?.status]);
  return version;
}

/** Seed 002's status map (`GET /batches/{id}/status-map`): custom_ids grouped by item status. */
export function useStatusMap(id: string, version: number): StatusMapGroups {
  const [map, setMap] = useState<StatusMapGroups>({ groups: {}, truncated: false });
  useEffect(() => {
    let stale = false;
    get<StatusMapData>(`/batches/${encodeURIComponent(id)}/status-map?limit=${MAP_LIMIT}`)
      .then((m) => {
        if (stale) return;
        const groups = {
          pending: m.pending,
          processing: m.processing,
          awaiting_tool_calls: m.awaiting_tool_calls,
          success: m.success,
          failed: m.failed,
        };
        const truncated = STATUSES.some((s) => (m.counts[s] ?? 0) > (groups[s]?.length ?? 0));
        setMap({ groups, truncated });
      })
      .catch(() => {});
    return () => {
      stale = true;
    };
  }, [id, version]);
  return map;
}

/** A batch opened after it ran has no live samples: its chart comes from the results' times. */
export function useHistory(batch: Batch | null, needed: boolean): Sample[] {
  const [history, setHistory] = useState<Sample[]>([]);
  const id = batch?.id;
  useEffect(() => {
    if (!needed || !batch) return;
    let stale = false;
    get<BatchResult[]>(`/batches/${encodeURIComponent(batch.id)}/results?limit=1000`)
      .then((rows) => {
        if (!stale)
          setHistory(samplesFromResults(rows, batch.total_requests, batch.started_at ?? batch.created_at));
      })
      .catch(() => {});
    return () => {
      stale = true;
    };
  }, [id, needed]);
  return history;
}

/** Items finished per second over the last few seconds of samples. */
function recentRate(samples: Sample[]): number {
  if (samples.length < 2) return 0;
  const last = samples[samples.length - 1];
  let first = samples[0];
  for (let i = samples.length - 2; i >= 0; i--) {
    first = samples[i];
    if (last.t - samples[i].t >= 5000) break;
  }
  const dt = (last.t - first.t) / 1000;
  return dt > 0 ? (last.success + last.failed - first.success - first.failed) / dt : 0;
}

export interface BatchTimings {
  endedAt: string | null;
  elapsed: number;
  rate: number;
  eta: number;
}

/** Elapsed time, rate and ETA: while running the recent rate, once finished the whole run's average. */
export function batchTimings(batch: Batch, samples: Sample[], active: boolean): BatchTimings {
  const done = batch.completed_requests + batch.failed_requests;
  const endedAt = batch.completed_at ?? batch.cancelled_at;
  const elapsed = batch.started_at
    ? (endedAt ? Date.parse(endedAt) : Date.now()) - Date.parse(batch.started_at)
    : Number.NaN;
  const rate = active ? recentRate(samples) : elapsed > 0 ? done / (elapsed / 1000) : 0;
  const eta = rate > 0 ? ((batch.total_requests - done) / rate) * 1000 : Number.NaN;
  return { endedAt, elapsed, rate, eta };
}
