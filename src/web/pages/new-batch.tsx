import { useEffect, useState } from "preact/hooks";
import { ApiError, get, post } from "../api";
import { errorText } from "../format";
import { Link, navigate } from "../router";
import type { Agent, Batch, ValidationError } from "../types";
import { ValidationErrors } from "./batch";

/** Inline JSON batches are capped at this many requests; more pasted lines go up as a file. */
const INLINE_LIMIT = 1000;

interface UploadedFile {
  id?: string;
  uuid?: string;
  validation_errors?: ValidationError[] | null;
}

/** Row errors may come back on the upload, on the batch, or in a 400's body. */
function validationErrorsOf(x: unknown): ValidationError[] {
  const o = x as { validation_errors?: ValidationError[]; data?: { validation_errors?: ValidationError[] } };
  return o?.validation_errors ?? o?.data?.validation_errors ?? [];
}

async function uploadFile(file: Blob, name: string): Promise<UploadedFile> {
  const form = new FormData();
  form.append("purpose", "batch_input");
  form.append("file", file, name);
  return post<UploadedFile>("/files", form);
}

/** A new batch from an uploaded CSV/JSONL/JSON file or from pasted messages, one per line. */
export function NewBatchPage() {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [agentId, setAgentId] = useState("");
  const [name, setName] = useState("");
  const [source, setSource] = useState<"file" | "paste">("file");
  const [file, setFile] = useState<File | null>(null);
  const [onInvalid, setOnInvalid] = useState<"skip" | "fail">("fail");
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [rowErrors, setRowErrors] = useState<ValidationError[]>([]);

  useEffect(() => {
    get<Agent[]>("/agents?limit=1000")
      .then((list) => {
        setAgents(list);
        const first = list.find((a) => a.publish_state === "published");
        if (first) setAgentId((cur) => cur || first.id);
      })
      .catch((err) => setError(errorText(err)));
  }, []);

  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

  const createFromFile = async (blob: Blob, filename: string): Promise<Batch> => {
    const uploaded = await uploadFile(blob, filename);
    const uploadErrors = validationErrorsOf(uploaded);
    setRowErrors(uploadErrors);
    return post<Batch>("/batches", {
      agent_id: agentId,
      file_id: uploaded.id ?? uploaded.uuid,
      name: name || filename,
      on_invalid_rows: onInvalid,
    });
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setRowErrors([]);
    try {
      let batch: Batch;
      if (source === "file") {
        if (!file) throw new Error("Choose a CSV, JSONL or JSON file");
        batch = await createFromFile(file, file.name);
      } else if (lines.length <= INLINE_LIMIT) {
        batch = await post<Batch>("/batches", {
          agent_id: agentId,
          name: name || null,
          requests: lines.map((message, i) => ({ custom_id: `line-${i + 1}`, message })),
        });
      } else {
        const jsonl = lines
          .map((message, i) => JSON.stringify({ custom_id: `line-${i + 1}`, message }))
          .join("\n");
        batch = await createFromFile(new Blob([jsonl], { type: "application/x-ndjson" }), "pasted.jsonl");
      }
      navigate(`/batches/${encodeURIComponent(batch.id)}`);
    } catch (err) {
      setError(errorText(err));
      if (err instanceof ApiError) setRowErrors((prev) => [...prev, ...validationErrorsOf(err.body)]);
    } finally {
      setBusy(false);
    }
  };

  const published = (agents ?? []).filter((a) => a.publish_state === "published");
  return (
    <section>
      <div class="page-head">
        <h1>New batch</h1>
      </div>
      <form class="card stack" onSubmit={submit} data-testid="new-batch-form">
        <label>
          Agent
          <select
            name="agent"
            value={agentId}
            onChange={(e) => setAgentId((e.target as HTMLSelectElement).value)}
            required
          >
            {published.length === 0 && <option value="">No published agent</option>}
            {published.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name} · {a.model} · v{a.published_version}
              </option>
            ))}
          </select>
        </label>
        {agents && published.length === 0 && (
          <p class="muted">
            Create and publish an agent first on the <Link href="/agents">Agents</Link> page.
          </p>
        )}
        <label>
          Name <span class="muted">(optional)</span>
          <input
            name="name"
            value={name}
            maxLength={256}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <div class="tabs">
          <button type="button" class={source === "file" ? "active" : ""} onClick={() => setSource("file")}>
            Upload a file
          </button>
          <button type="button" class={source === "paste" ? "active" : ""} onClick={() => setSource("paste")}>
            Paste messages
          </button>
        </div>
        {source === "file" ? (
          <>
            <label>
              CSV, JSONL or JSON file
              <input
                type="file"
                name="file"
                accept=".csv,.jsonl,.ndjson,.json,text/csv,application/json"
                onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)}
              />
            </label>
            <p class="muted small">
              Columns (or keys): <code>custom_id</code>, <code>message</code>, and optionally{" "}
              <code>agent_id</code>, <code>external_user_id</code>, <code>name</code>, <code>context.*</code>,{" "}
              <code>metadata.*</code>. CSV needs a header row.
            </p>
            <fieldset class="inline">
              <legend>Rows that fail validation</legend>
              <label>
                <input
                  type="radio"
                  name="on-invalid"
                  checked={onInvalid === "skip"}
                  onChange={() => setOnInvalid("skip")}
                />{" "}
                skip them and report
              </label>
              <label>
                <input
                  type="radio"
                  name="on-invalid"
                  checked={onInvalid === "fail"}
                  onChange={() => setOnInvalid("fail")}
                />{" "}
                fail the batch
              </label>
            </fieldset>
          </>
        ) : (
          <label>
            Messages, one per line{" "}
            <span class="muted">
              ({lines.length} → custom_id line-1…line-{lines.length || "n"})
            </span>
            <textarea
              name="messages"
              rows={10}
              value={text}
              onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
            />
          </label>
        )}
        <div>
          <button type="submit" class="primary" disabled={busy || !agentId}>
            {busy ? "Creating…" : "Create batch"}
          </button>
        </div>
        {error && (
          <p class="error" data-testid="create-error">
            {error}
          </p>
        )}
      </form>
      {rowErrors.length > 0 && <ValidationErrors errors={rowErrors} />}
    </section>
  );
}
