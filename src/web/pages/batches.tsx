import { useEffect, useState } from "preact/hooks";
import { call } from "../api";
import { ProgressBar, StatusBadge } from "../components/progress";
import { errorText, fmtNumber, fmtTime, shortId } from "../format";
import { watchBatch } from "../live";
import { Link } from "../router";
import { type Batch, isFinal } from "../types";

const PAGE = 25;
/** Live streams kept open at once: browsers allow about six connections per host. */
const MAX_STREAMS = 3;
const ACTIVE = "validating,in_progress,paused,cancelling";
/** How often the list is re-read while something runs (new batches, others' progress). */
const REFRESH_MS = 3000;

type Filter = "" | "active";

/** One page of the list, re-read every few seconds while any batch on it runs. */
function useBatchList(filter: Filter, offset: number) {
  const [rows, setRows] = useState<Batch[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (filter) q.set("status", ACTIVE);
    try {
      const env = await call<Batch[]>("GET", `/batches?${q}`);
      setRows(env.data);
      setTotal(env.pagination?.total_records ?? env.data.length);
      setError(null);
    } catch (err) {
      setError(errorText(err));
    }
  };
  useEffect(() => {
    void load();
  }, [filter, offset]);
  const anyActive = (rows ?? []).some((b) => !isFinal(b.status));
  useEffect(() => {
    if (!anyActive) return;
    const t = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(t);
  }, [anyActive, filter, offset]);
  return { rows, total, error };
}

/** The first few running batches of the list follow their live progress stream. */
function useLiveRows(rows: Batch[] | null): Record<string, Partial<Batch>> {
  const [live, setLive] = useState<Record<string, Partial<Batch>>>({});
  const streamed = (rows ?? [])
    .filter((b) => !isFinal(b.status))
    .slice(0, MAX_STREAMS)
    .map((b) => b.id);
  const key = streamed.join(",");
  useEffect(() => {
    const controller = new AbortController();
    for (const id of streamed) {
      watchBatch(
        id,
        (b) => setLive((prev) => ({ ...prev, [id]: { ...prev[id], ...b } })),
        controller.signal,
      ).catch(() => {});
    }
    return () => controller.abort();
  }, [key]);
  return live;
}

/** The batches of the workspace, newest first, with live progress bars for running ones. */
export function BatchesPage() {
  const [filter, setFilter] = useState<Filter>("");
  const [offset, setOffset] = useState(0);
  const { rows, total, error } = useBatchList(filter, offset);
  const live = useLiveRows(rows);
  const choose = (f: Filter) => {
    setFilter(f);
    setOffset(0);
  };

  return (
    <section>
      <div class="page-head">
        <h1>Batches</h1>
        <div class="tabs">
          <button type="button" class={filter === "" ? "active" : ""} onClick={() => choose("")}>
            All
          </button>
          <button type="button" class={filter === "active" ? "active" : ""} onClick={() => choose("active")}>
            Active
          </button>
        </div>
        <Link href="/new" class="button primary">
          New batch
        </Link>
      </div>
      {error && <p class="error">{error}</p>}
      {rows && rows.length === 0 && (
        <div class="card empty">
          <p>No batches yet.</p>
          <Link href="/new" class="button primary">
            Create your first batch
          </Link>
        </div>
      )}
      {rows && rows.length > 0 && <BatchesTable rows={rows} live={live} />}
      {total > PAGE && <Pager offset={offset} total={total} onOffset={setOffset} />}
    </section>
  );
}

function BatchesTable(props: { rows: Batch[]; live: Record<string, Partial<Batch>> }) {
  return (
    <table class="table" data-testid="batches-table">
      <thead>
        <tr>
          <th>batch</th>
          <th>status</th>
          <th class="wide">progress</th>
          <th class="num">done / total</th>
          <th class="num">failed</th>
          <th>created</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => (
          <BatchRow key={row.id} b={{ ...row, ...props.live[row.id] } as Batch} />
        ))}
      </tbody>
    </table>
  );
}

function BatchRow(props: { b: Batch }) {
  const { b } = props;
  return (
    <tr data-batch-id={b.id}>
      <td>
        <Link href={`/batches/${encodeURIComponent(b.id)}`}>{b.name || shortId(b.id)}</Link>
        {b.name && <div class="muted mono small">{shortId(b.id)}</div>}
      </td>
      <td>
        <StatusBadge status={b.status} />
      </td>
      <td class="wide">
        <ProgressBar batch={b} />
      </td>
      <td class="num">
        {fmtNumber(b.completed_requests + b.failed_requests)} / {fmtNumber(b.total_requests)}
      </td>
      <td class="num">{b.failed_requests > 0 ? fmtNumber(b.failed_requests) : "—"}</td>
      <td>{fmtTime(b.created_at)}</td>
    </tr>
  );
}

function Pager(props: { offset: number; total: number; onOffset: (o: number) => void }) {
  const { offset, total } = props;
  return (
    <div class="pager">
      <button
        type="button"
        disabled={offset === 0}
        onClick={() => props.onOffset(Math.max(0, offset - PAGE))}
      >
        ‹ Newer
      </button>
      <span class="muted">
        {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
      </span>
      <button type="button" disabled={offset + PAGE >= total} onClick={() => props.onOffset(offset + PAGE)}>
        Older ›
      </button>
    </div>
  );
}
