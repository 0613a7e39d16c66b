import { useEffect, useState } from "preact/hooks";
import { get, patch, post } from "../api";
import { errorText, fmtTime } from "../format";
import type { Agent } from "../types";

interface Draft {
  name: string;
  model: string;
  description: string;
  system_prompt: string;
  temperature: string;
  max_tokens: string;
}

const EMPTY: Draft = {
  name: "",
  model: "simulated/echo",
  description: "",
  system_prompt: "",
  temperature: "",
  max_tokens: "",
};

function draftOf(a: Agent): Draft {
  return {
    name: a.name,
    model: a.model,
    description: a.description ?? "",
    system_prompt: a.system_prompt ?? "",
    temperature: a.temperature === null ? "" : String(a.temperature),
    max_tokens: a.max_tokens === null ? "" : String(a.max_tokens),
  };
}

function bodyOf(d: Draft) {
  return {
    name: d.name.trim(),
    model: d.model.trim(),
    description: d.description.trim() || null,
    system_prompt: d.system_prompt || null,
    temperature: d.temperature === "" ? null : Number(d.temperature),
    max_tokens: d.max_tokens === "" ? null : Number.parseInt(d.max_tokens, 10),
  };
}

/** The workspace's agents, and running a change to them: busy while it runs, then re-read. */
function useAgentList() {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = () =>
    get<Agent[]>("/agents?limit=1000")
      .then(setAgents)
      .catch((err) => setError(errorText(err)));
  useEffect(() => {
    void load();
  }, []);
  const run = async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      await load();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return { agents, error, busy, run };
}

type Editing = string | "new" | null;

/** Agents: list, create, edit, and publish (a batch uses the published version). */
export function AgentsPage() {
  const { agents, error, busy, run } = useAgentList();
  const [editing, setEditing] = useState<Editing>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);

  const save = () =>
    run(async () => {
      if (editing === "new") await post("/agents", bodyOf(draft));
      else if (editing) await patch(`/agents/${editing}`, bodyOf(draft));
      setEditing(null);
    });
  const edit = (next: Draft, target: Editing) => {
    setDraft(next);
    setEditing(target);
  };

  return (
    <section>
      <div class="page-head">
        <h1>Agents</h1>
        <button type="button" class="primary" onClick={() => edit(EMPTY, "new")}>
          New agent
        </button>
      </div>
      {error && <p class="error">{error}</p>}
      {editing && (
        <AgentForm
          editing={editing}
          draft={draft}
          busy={busy}
          onChange={setDraft}
          onSave={save}
          onCancel={() => setEditing(null)}
        />
      )}
      {agents && agents.length === 0 && !editing && <p class="card empty">No agents yet.</p>}
      {agents && agents.length > 0 && (
        <AgentsTable
          agents={agents}
          busy={busy}
          onEdit={(a) => edit(draftOf(a), a.id)}
          onPublish={(a) => run(() => post(`/agents/${a.id}/publish`))}
        />
      )}
    </section>
  );
}

/** The props that bind an input to one field of the draft. */
function fieldBinder(draft: Draft, onChange: (d: Draft) => void) {
  return (key: keyof Draft) => ({
    name: key,
    value: draft[key],
    onInput: (e: Event) => onChange({ ...draft, [key]: (e.target as HTMLInputElement).value }),
  });
}

function AgentForm(props: {
  editing: string;
  draft: Draft;
  busy: boolean;
  onChange: (d: Draft) => void;
  onSave: () => void;
  onCancel: () => void;
}) {
  const { editing } = props;
  const field = fieldBinder(props.draft, props.onChange);
  const submit = (e: Event) => {
    e.preventDefault();
    props.onSave();
  };
  return (
    <form class="card stack" onSubmit={submit} data-testid="agent-form">
      <h2>{editing === "new" ? "New agent" : "Edit agent"}</h2>
      <div class="row2">
        <label>
          Name
          <input {...field("name")} required maxLength={256} />
        </label>
        <label>
          Model <span class="muted">(provider/model)</span>
          <input {...field("model")} required placeholder="simulated/echo" />
        </label>
      </div>
      <label>
        Description
        <input {...field("description")} />
      </label>
      <label>
        System prompt
        <textarea {...field("system_prompt")} rows={5} />
      </label>
      <div class="row2">
        <label>
          Temperature
          <input {...field("temperature")} type="number" min={0} max={2} step={0.1} />
        </label>
        <label>
          Max tokens
          <input {...field("max_tokens")} type="number" min={1} step={1} />
        </label>
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={props.busy}>
          Save
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        {editing !== "new" && <span class="muted">Publish again to use a change in new batches.</span>}
      </div>
    </form>
  );
}

function AgentsTable(props: {
  agents: Agent[];
  busy: boolean;
  onEdit: (a: Agent) => void;
  onPublish: (a: Agent) => void;
}) {
  return (
    <table class="table" data-testid="agents-table">
      <thead>
        <tr>
          <th>name</th>
          <th>model</th>
          <th>state</th>
          <th>updated</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.agents.map((a) => (
          <tr key={a.id} data-agent-id={a.id}>
            <td>
              <b>{a.name}</b>
              <div class="muted mono small">{a.id}</div>
            </td>
            <td class="mono">{a.model}</td>
            <td>
              <PublishState agent={a} />
            </td>
            <td>{fmtTime(a.updated_at)}</td>
            <td class="actions">
              <button type="button" onClick={() => props.onEdit(a)}>
                Edit
              </button>
              <button
                type="button"
                data-action="publish"
                disabled={props.busy}
                onClick={() => props.onPublish(a)}
              >
                Publish
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Published (with its version) or draft, and whether it changed since it was published. */
function PublishState(props: { agent: Agent }) {
  const a = props.agent;
  const changedSincePublished =
    a.publish_state === "published" &&
    a.updated_at &&
    a.published_at &&
    Date.parse(a.updated_at) > Date.parse(a.published_at);
  return (
    <>
      {a.publish_state === "published" ? (
        <span class="badge s-completed">published v{a.published_version}</span>
      ) : (
        <span class="badge s-paused">draft</span>
      )}
      {changedSincePublished && <div class="muted small">unpublished changes</div>}
    </>
  );
}
