import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get, subscribe } from "./api";
import { type Batch, isFinal } from "./types";

/** The batch counters at one moment, for the progress chart. */
export interface Sample {
  t: number;
  success: number;
  failed: number;
  processing: number;
  pending: number;
}

/** Finds the batch object in a progress event, whether sent bare or wrapped (`{batch}`, `{data}`). */
export function findBatch(x: unknown, depth = 0): Partial<Batch> | null {
  if (!x || typeof x !== "object" || depth > 3) return null;
  const o = x as Record<string, unknown>;
  const hasCounters = "total_requests" in o || "completed_requests" in o || "pending_requests" in o;
  if (typeof o.status === "string" && hasCounters) return o as Partial<Batch>;
  for (const k of ["batch", "data", "snapshot", "progress"]) {
    const found = findBatch(o[k], depth + 1);
    if (found) return found;
  }
  return null;
}

export type LiveMode = "connecting" | "stream" | "polling" | "idle";

/**
 * Follows a batch until it is final or `signal` aborts: the SSE stream of
 * `GET /batches/{id}/events` when the server has it, polling `GET /batches/{id}` otherwise.
 * Events that carry no batch object trigger a (throttled) re-read of the batch.
 */
export async function watchBatch(
  id: string,
  onBatch: (b: Partial<Batch>) => void,
  signal: AbortSignal,
  onMode: (m: LiveMode) => void = () => {},
  pollMs = 1000,
): Promise<void> {
  let final = false;
  const apply = (b: Partial<Batch>) => {
    if (signal.aborted) return;
    onBatch(b);
    if (b.status && isFinal(b.status)) final = true;
  };
  const reread = async () => {
    try {
      apply(await get<Batch>(`/batches/${id}`));
    } catch {
      /* the next event or poll tries again */
    }
  };
  let pending: ReturnType<typeof setTimeout> | null = null;
  const rereadSoon = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      void reread();
    }, 200);
  };
  try {
    onMode("connecting");
    await subscribe(
      `/batches/${id}/events`,
      (e) => {
        onMode("stream");
        const b = findBatch(e.data);
        if (b && (!b.id || b.id === id)) apply(b);
        else if (e.event !== "keepalive" && e.event !== "ping") rereadSoon();
      },
      signal,
      () => final,
    );
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    // No live stream for this batch (or this server): poll instead.
    onMode("polling");
    while (!signal.aborted && !final) {
      await new Promise((r) => setTimeout(r, pollMs));
      if (!signal.aborted) await reread();
    }
  } finally {
    if (pending) clearTimeout(pending);
  }
  if (!signal.aborted) {
    await reread(); // the final state with every field (completed_at, usage…)
    onMode("idle");
  }
}

function sampleOf(b: Batch): Sample {
  return {
    t: Date.now(),
    success: b.completed_requests,
    failed: b.failed_requests,
    processing: b.processing_requests ?? 0,
    pending: b.pending_requests ?? Math.max(0, b.total_requests - b.completed_requests - b.failed_requests),
  };
}

/** The batch page's live state: the batch, how it is followed, and its counters over time. */
export function useLiveBatch(id: string) {
  const [batch, setBatch] = useState<Batch | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [mode, setMode] = useState<LiveMode>("idle");
  const [samples, setSamples] = useState<Sample[]>([]);
  const latest = useRef<Batch | null>(null);

  const accept = (b: Partial<Batch>) => {
    const wasActive = latest.current !== null && !isFinal(latest.current.status);
    const next = { ...(latest.current ?? {}), ...b } as Batch;
    // A progress event may carry only counters: read the whole final batch once it ends.
    if (wasActive && isFinal(next.status)) setTimeout(() => void reload(), 0);
    latest.current = next;
    setBatch(next);
    setSamples((prev) => {
      const s = sampleOf(next);
      const last = prev[prev.length - 1];
      const same =
        last &&
        last.success === s.success &&
        last.failed === s.failed &&
        last.processing === s.processing &&
        last.pending === s.pending;
      if (same && s.t - last.t < 2000) return prev;
      // Updates arrive as things change, so a long quiet gap (a pause) held the last state until now.
      const held = last && !same && s.t - last.t > 1000 ? [{ ...last, t: s.t - 200 }] : [];
      return [...prev.slice(-2000), ...held, s];
    });
  };

  const reload = async () => {
    try {
      accept(await get<Batch>(`/batches/${id}`));
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  useEffect(() => {
    latest.current = null;
    setBatch(null);
    setSamples([]);
    void reload();
  }, [id]);

  const active = batch !== null && !isFinal(batch.status);
  useEffect(() => {
    if (!active) return;
    const controller = new AbortController();
    watchBatch(id, accept, controller.signal, setMode).catch((err) => setError((err as Error).message));
    return () => controller.abort();
  }, [id, active]);

  return { batch, error, mode: active ? mode : "idle", samples, reload, accept };
}
