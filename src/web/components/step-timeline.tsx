/**
 * A result's step timeline (an agent with tools): model replies with the tool calls they asked
 * for, and tool results (cut short), each with its duration, from
 * `GET /batches/{id}/results/{custom_id}/steps`. Loaded when the user opens it (a button).
 */
import { useState } from "preact/hooks";
import { call } from "../api";
import { errorText } from "../format";

interface ToolCallWire {
  call_id: string;
  tool: string;
  arguments: unknown;
}

export interface StepWire {
  index: number;
  type: "model" | "tool";
  duration_ms: number;
  model?: string;
  content?: string | null;
  /** The repair call of an answer that did not match the agent's response_format. */
  repair?: boolean;
  tool_calls?: ToolCallWire[];
  call_id?: string;
  tool?: string;
  is_error?: boolean;
  output?: string;
  output_truncated?: boolean;
}

/** Tool results are shown up to this many characters. */
const OUTPUT_CHARS = 300;

function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function StepTimeline(props: { batchId: string; customId: string }) {
  const [open, setOpen] = useState(false);
  const [steps, setSteps] = useState<StepWire[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const toggle = () => {
    setOpen(!open);
    if (open || steps) return;
    const path = `/batches/${encodeURIComponent(props.batchId)}/results/${encodeURIComponent(props.customId)}/steps`;
    call<{ steps: StepWire[] }>("GET", path)
      .then((env) => setSteps(env.data.steps))
      .catch((err) => setError(errorText(err)));
  };
  return (
    <div class="steps">
      <button type="button" data-testid="steps-toggle" aria-expanded={open} onClick={toggle}>
        {open ? "Hide steps" : "Show steps"}
      </button>
      {open && error && <p class="error">{error}</p>}
      {open && steps && steps.length === 0 && <p class="muted">No tool steps.</p>}
      {open && steps && steps.length > 0 && (
        <ol class="timeline" data-testid="step-timeline">
          {steps.map((s) => (
            <StepItem key={s.index} s={s} />
          ))}
        </ol>
      )}
    </div>
  );
}

function StepItem(props: { s: StepWire }) {
  const { s } = props;
  const took = <span class="muted"> · {s.duration_ms} ms</span>;
  if (s.type === "model") {
    return (
      <li class="step model" data-testid="step">
        <strong>model</strong> <span class="mono">{s.model}</span>
        {s.repair ? " (repair)" : ""}
        {took}
        {s.content && <pre>{short(s.content, OUTPUT_CHARS)}</pre>}
        {(s.tool_calls ?? []).map((c) => (
          <div key={c.call_id} class="mono">
            → {c.tool}({short(JSON.stringify(c.arguments), 200)})
          </div>
        ))}
      </li>
    );
  }
  const output = s.output ?? "";
  return (
    <li class={`step tool${s.is_error ? " err-text" : ""}`} data-testid="step">
      <strong>tool</strong> <span class="mono">{s.tool}</span>
      {s.is_error ? " (error)" : ""}
      {took}
      <pre>
        {short(output, OUTPUT_CHARS) + (s.output_truncated && output.length <= OUTPUT_CHARS ? "…" : "")}
      </pre>
    </li>
  );
}
