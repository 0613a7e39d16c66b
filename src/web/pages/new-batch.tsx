import { useEffect, useState } from "preact/hooks";
import { ApiError, get, post } from "../api";
import { ValidationErrors } from "../components/validation-errors";
import { errorText } from "../format";
import { Link, navigate } from "../router";
import type { Agent, Batch, ValidationError } from "../types";

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

type Source = "file" | "paste";
type OnInvalid = "skip" | "fail";

/** What the form holds when it is submitted. */
interface BatchForm {
  agentId: string;
  name: string;
  source: Source;
  file: File | null;
  onInvalid: OnInvalid;
  /** The pasted messages, blank lines dropped. */
  lines: string[];
}

/**
 * Creates the batch the form describes: from the file, inline from the pasted lines, or (past
 * the inline limit) from the pasted lines uploaded as JSONL. Row errors the upload reports go to
 * `onRowErrors` before the batch is created.
 */
async function createBatch(
  form: BatchForm,
  onRowErrors: (errors: ValidationError[]) => void,
): Promise<Batch> {
  const fromFile = async (blob: Blob, filename: string) => {
    const uploaded = await uploadFile(blob, filename);
    onRowErrors(validationErrorsOf(uploaded));
    return post<Batch>("/batches", {
      agent_id: form.agentId,
      file_id: uploaded.id ?? uploaded.uuid,
      name: form.name || filename,
      on_invalid_rows: form.onInvalid,
    });
  };
  if (form.source === "file") {
    if (!form.file) throw new Error("Choose a CSV, JSONL or JSON file");
    return fromFile(form.file, form.file.name);
  }
  if (form.lines.length <= INLINE_LIMIT) {
    return post<Batch>("/batches", {
      agent_id: form.agentId,
      name: form.name || null,
      requests: form.lines.map((message, i) => ({ custom_id: `line-${i + 1}`, message })),
    });
  }
  const jsonl = form.lines
    .map((message, i) => JSON.stringify({ custom_id: `line-${i + 1}`, message }))
    .join("\n");
  return fromFile(new Blob([jsonl], { type: "application/x-ndjson" }), "pasted.jsonl");
}

/** The workspace's agents, and the first published one chosen unless the user chose already. */
function useAgents(setAgentId: (update: (current: string) => string) => void) {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    get<Agent[]>("/agents?limit=1000")
      .then((list) => {
        setAgents(list);
        const first = list.find((a) => a.publish_state === "published");
        if (first) setAgentId((cur) => cur || first.id);
      })
      .catch((err) => setError(errorText(err)));
  }, []);
  return { agents, error, setError };
}

/** Submits the form: busy meanwhile, then the new batch's page, or the error and the rows at fault. */
function useCreateBatch(setError: (error: string | null) => void) {
  const [busy, setBusy] = useState(false);
  const [rowErrors, setRowErrors] = useState<ValidationError[]>([]);
  const create = async (form: BatchForm) => {
    setBusy(true);
    setError(null);
    setRowErrors([]);
    try {
      const batch = await createBatch(form, setRowErrors);
      navigate(`/batches/${encodeURIComponent(batch.id)}`);
    } catch (err) {
      setError(errorText(err));
      if (err instanceof ApiError) setRowErrors((prev) => [...prev, ...validationErrorsOf(err.body)]);
    } finally {
      setBusy(false);
    }
  };
  return { busy, rowErrors, create };
}

/** A new batch from an uploaded CSV/JSONL/JSON file or from pasted messages, one per line. */
export function NewBatchPage() {
  const [agentId, setAgentId] = useState("");
  const { agents, error, setError } = useAgents(setAgentId);
  const [name, setName] = useState("");
  const [source, setSource] = useState<Source>("file");
  const [file, setFile] = useState<File | null>(null);
  const [onInvalid, setOnInvalid] = useState<OnInvalid>("fail");
  const [text, setText] = useState("");
  const { busy, rowErrors, create } = useCreateBatch(setError);
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const submit = (e: Event) => {
    e.preventDefault();
    void create({ agentId, name, source, file, onInvalid, lines });
  };

  return (
    <section>
      <div class="page-head">
        <h1>New batch</h1>
      </div>
      <form class="card stack" onSubmit={submit} data-testid="new-batch-form">
        <AgentPicker agents={agents} agentId={agentId} onPick={setAgentId} />
        <label>
          Name <span class="muted">(optional)</span>
          <input
            name="name"
            value={name}
            maxLength={256}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <SourceTabs source={source} onSource={setSource} />
        {source === "file" ? (
          <FileSource onInvalid={onInvalid} onFile={setFile} onInvalidChange={setOnInvalid} />
        ) : (
          <PasteSource text={text} lines={lines} onText={setText} />
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

function AgentPicker(props: { agents: Agent[] | null; agentId: string; onPick: (id: string) => void }) {
  const published = (props.agents ?? []).filter((a) => a.publish_state === "published");
  return (
    <>
      <label>
        Agent
        <select
          name="agent"
          value={props.agentId}
          onChange={(e) => props.onPick((e.target as HTMLSelectElement).value)}
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
      {props.agents && published.length === 0 && (
        <p class="muted">
          Create and publish an agent first on the <Link href="/agents">Agents</Link> page.
        </p>
      )}
    </>
  );
}

function SourceTabs(props: { source: Source; onSource: (s: Source) => void }) {
  return (
    <div class="tabs">
      <button
        type="button"
        class={props.source === "file" ? "active" : ""}
        onClick={() => props.onSource("file")}
      >
        Upload a file
      </button>
      <button
        type="button"
        class={props.source === "paste" ? "active" : ""}
        onClick={() => props.onSource("paste")}
      >
        Paste messages
      </button>
    </div>
  );
}

function FileSource(props: {
  onInvalid: OnInvalid;
  onFile: (f: File | null) => void;
  onInvalidChange: (mode: OnInvalid) => void;
}) {
  return (
    <>
      <label>
        CSV, JSONL or JSON file
        <input
          type="file"
          name="file"
          accept=".csv,.jsonl,.ndjson,.json,text/csv,application/json"
          onChange={(e) => props.onFile((e.target as HTMLInputElement).files?.[0] ?? null)}
        />
      </label>
      <p class="muted small">
        Columns (or keys): <code>custom_id</code>, <code>message</code>, and optionally <code>agent_id</code>,{" "}
        <code>external_user_id</code>, <code>name</code>, <code>context.*</code>, <code>metadata.*</code>. CSV
        needs a header row.
      </p>
      <fieldset class="inline">
        <legend>Rows that fail validation</legend>
        <label>
          <input
            type="radio"
            name="on-invalid"
            checked={props.onInvalid === "skip"}
            onChange={() => props.onInvalidChange("skip")}
          />{" "}
          skip them and report
        </label>
        <label>
          <input
            type="radio"
            name="on-invalid"
            checked={props.onInvalid === "fail"}
            onChange={() => props.onInvalidChange("fail")}
          />{" "}
          fail the batch
        </label>
      </fieldset>
    </>
  );
}

function PasteSource(props: { text: string; lines: string[]; onText: (t: string) => void }) {
  const count = props.lines.length;
  return (
    <label>
      Messages, one per line{" "}
      <span class="muted">
        ({count} → custom_id line-1…line-{count || "n"})
      </span>
      <textarea
        name="messages"
        rows={10}
        value={props.text}
        onInput={(e) => props.onText((e.target as HTMLTextAreaElement).value)}
      />
    </label>
  );
}
