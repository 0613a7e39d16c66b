import { useEffect, useState } from "preact/hooks";
import { call } from "../api";
import { errorText, fmtTime } from "../format";
import type { BatchResult, ItemStatus } from "../types";
import { StepTimeline } from "./step-timeline";

const PAGE = 50;
/** Search runs in the browser over at most this many results (the API has no text search). */
const SEARCH_LIMIT = 5000;
/** Typing waits this long for a pause before searching; paging and live refreshes load at once. */
const SEARCH_DEBOUNCE_MS = 250;

interface ResultsData {
  rows: BatchResult[];
  total: number;
  note?: string;
}

async function loadPage(batchId: string, status: string, offset: number, limit: number) {
  const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  if (status) q.set("status", status);
  const env = await call<BatchResult[]>("GET", `/batches/${batchId}/results?${q}`);
  return { rows: env.data, total: env.pagination?.total_records ?? env.data.length };
}

async function search(batchId: string, status: string, text: string) {
  const needle = text.toLowerCase();
  const matches: BatchResult[] = [];
  let scanned = 0;
  let total = 0;
  do {
    const page = await loadPage(batchId, status, scanned, 1000);
    total = page.total;
    scanned += page.rows.length;
    for (const r of page.rows) {
      const hay = `${r.custom_id}\n${r.response_content ?? ""}\n${r.error_message ?? ""}`.toLowerCase();
      if (hay.includes(needle)) matches.push(r);
    }
    if (page.rows.length === 0) break;
  } while (scanned < total && scanned < SEARCH_LIMIT);
  return { rows: matches, total: matches.length, scanned, capped: scanned < total };
}

/** The first 200 matches of a search, with a note saying how many there are and where it looked. */
async function searchResults(batchId: string, status: string, needle: string): Promise<ResultsData> {
  const r = await search(batchId, status, needle);
  return {
    rows: r.rows.slice(0, 200),
    total: r.total,
    note: `${r.total} match${r.total === 1 ? "" : "es"} in ${r.scanned} results${r.capped ? " (search covers the first 5,000)" : ""}`,
  };
}

interface ResultsQuery {
  batchId: string;
  version: number;
  status: "" | ItemStatus;
  text: string;
  offset: number;
}

/** The page (or the search matches) for a query, re-read whenever any part of it changes. */
function useResults(query: ResultsQuery) {
  const [data, setData] = useState<ResultsData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { batchId, version, status, text, offset } = query;
  useEffect(() => {
    let stale = false;
    const needle = text.trim();
    const load = () =>
      needle ? searchResults(batchId, status, needle) : loadPage(batchId, status, offset, PAGE);
    const timer = setTimeout(
      () =>
        load()
          .then((d) => {
            if (stale) return;
            setData(d);
            setError(null);
          })
          .catch((err) => !stale && setError(errorText(err))),
      needle ? SEARCH_DEBOUNCE_MS : 0,
    );
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [batchId, version, status, text, offset]);
  return { data, error };
}

/** The batch's results: status filter, search by custom_id or text, pages, and each row's details. */
export function ResultsTable(props: { batchId: string; version: number; focus: string | null }) {
  const [status, setStatus] = useState<"" | ItemStatus>("");
  const [text, setText] = useState("");
  const [offset, setOffset] = useState(0);
  const [expanded, setExpanded] = useState<string | null>(null);
  useEffect(() => {
    if (props.focus) {
      setText(props.focus);
      setStatus("");
      setExpanded(props.focus);
    }
  }, [props.focus]);
  const { data, error } = useResults({
    batchId: props.batchId,
    version: props.version,
    status,
    text,
    offset,
  });

  return (
    <div class="results">
      <ResultsToolbar
        status={status}
        text={text}
        offset={offset}
        data={data}
        onStatus={(s) => {
          setStatus(s);
          setOffset(0);
        }}
        onText={(t) => {
          setText(t);
          setOffset(0);
        }}
        onOffset={setOffset}
      />
      {error && <p class="error">{error}</p>}
      <ResultRows
        batchId={props.batchId}
        data={data}
        expanded={expanded}
        toggle={(id) => setExpanded(expanded === id ? null : id)}
      />
    </div>
  );
}

function ResultsToolbar(props: {
  status: "" | ItemStatus;
  text: string;
  offset: number;
  data: ResultsData | null;
  onStatus: (s: "" | ItemStatus) => void;
  onText: (t: string) => void;
  onOffset: (o: number) => void;
}) {
  const { offset, data } = props;
  const total = data?.total ?? 0;
  return (
    <div class="toolbar">
      <label>
        Status{" "}
        <select
          data-testid="results-status"
          value={props.status}
          onChange={(e) => props.onStatus((e.target as HTMLSelectElement).value as ItemStatus | "")}
        >
          <option value="">all</option>
          <option value="pending">pending</option>
          <option value="processing">processing</option>
          <option value="success">success</option>
          <option value="failed">failed</option>
        </select>
      </label>
      <input
        type="search"
        placeholder="Search custom_id or text"
        data-testid="results-search"
        value={props.text}
        onInput={(e) => props.onText((e.target as HTMLInputElement).value)}
      />
      <span class="muted">
        {data?.note ?? (data ? `${offset + 1}–${Math.min(offset + PAGE, total)} of ${total}` : "")}
      </span>
      {!props.text.trim() && (
        <span class="pager">
          <button
            type="button"
            disabled={offset === 0}
            onClick={() => props.onOffset(Math.max(0, offset - PAGE))}
          >
            ‹ Prev
          </button>
          <button
            type="button"
            disabled={offset + PAGE >= total}
            onClick={() => props.onOffset(offset + PAGE)}
          >
            Next ›
          </button>
        </span>
      )}
    </div>
  );
}

/** The top-level fields of the structured answers on the page, in the order first seen. */
function jsonFields(rows: BatchResult[]): string[] {
  const fields = new Set<string>();
  for (const r of rows) {
    const v = r.response_json;
    if (typeof v === "object" && v !== null && !Array.isArray(v))
      for (const k of Object.keys(v)) fields.add(k);
  }
  return [...fields];
}

function fieldText(r: BatchResult, field: string): string {
  const v = (r.response_json as Record<string, unknown> | null | undefined)?.[field];
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

function ResultRows(props: {
  batchId: string;
  data: ResultsData | null;
  expanded: string | null;
  toggle: (customId: string) => void;
}) {
  const { data } = props;
  const fields = jsonFields(data?.rows ?? []);
  const span = 5 + fields.length;
  return (
    <table class="table" data-testid="results-table">
      <thead>
        <tr>
          <th>custom_id</th>
          <th>status</th>
          {fields.map((f) => (
            <th key={f} class="mono" data-testid="json-field">
              {f}
            </th>
          ))}
          <th>response / error</th>
          <th>attempts</th>
          <th>processed</th>
        </tr>
      </thead>
      <tbody>
        {data?.rows.map((r) => (
          <ResultRow
            key={r.custom_id}
            r={r}
            batchId={props.batchId}
            fields={fields}
            span={span}
            open={props.expanded === r.custom_id}
            toggle={() => props.toggle(r.custom_id)}
          />
        ))}
        {data && data.rows.length === 0 && (
          <tr>
            <td colSpan={span} class="muted">
              No results.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function ResultRow(props: {
  r: BatchResult;
  batchId: string;
  fields: string[];
  span: number;
  open: boolean;
  toggle: () => void;
}) {
  const { r } = props;
  const summary =
    r.status === "failed"
      ? `${r.error_code ?? ""} ${r.error_message ?? ""}`.trim()
      : (r.response_content ?? "").slice(0, 140);
  return (
    <>
      <tr class={`row i-${r.status}${props.open ? " open" : ""}`} onClick={props.toggle}>
        <td class="mono">
          {/* The row's click handler toggles it; the button makes that reachable by keyboard. */}
          <button type="button" class="plain" aria-expanded={props.open} data-testid="row-toggle">
            {r.custom_id}
          </button>
        </td>
        <td>
          <i class={`dot i-${r.status}`} /> {r.status}
        </td>
        {props.fields.map((f) => (
          <td key={f}>{fieldText(r, f).slice(0, 80)}</td>
        ))}
        <td class={r.status === "failed" ? "err-text" : ""}>{summary}</td>
        <td>{r.attempts ?? "—"}</td>
        <td>{fmtTime(r.processed_at)}</td>
      </tr>
      {props.open && <ResultDetails r={r} batchId={props.batchId} span={props.span} />}
    </>
  );
}

function ResultDetails(props: { r: BatchResult; batchId: string; span: number }) {
  const { r } = props;
  return (
    <tr class="details">
      <td colSpan={props.span}>
        {r.status === "failed" && (
          <p class="error">
            Error {r.error_code}: {r.error_message}
          </p>
        )}
        {r.response_content && <pre>{r.response_content}</pre>}
        {r.agent_id && <StepTimeline batchId={props.batchId} customId={r.custom_id} />}
        <dl>
          {r.history_id !== null && (
            <>
              <dt>chat</dt>
              <dd>{r.history_id}</dd>
            </>
          )}
          {r.agent_id && (
            <>
              <dt>agent</dt>
              <dd class="mono">{r.agent_id}</dd>
            </>
          )}
          {r.response_usage && (
            <>
              <dt>usage</dt>
              <dd class="mono">{JSON.stringify(r.response_usage)}</dd>
            </>
          )}
        </dl>
      </td>
    </tr>
  );
}
