import type { Agent, Batch } from "../client/index.js";

/** Fixed-width columns for terminal listings. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

export function batchesTable(batches: Batch[]): string {
  return table(
    ["ID", "STATUS", "DONE/TOTAL", "FAILED", "CREATED", "NAME"],
    batches.map((b) => [
      b.id,
      b.status,
      `${b.completed_requests + b.failed_requests}/${b.total_requests}`,
      String(b.failed_requests),
      b.created_at ?? "",
      b.name ?? "",
    ]),
  );
}

export function agentsTable(agents: Agent[]): string {
  return table(
    ["ID", "NAME", "MODEL", "STATE", "VERSION"],
    agents.map((a) => [a.id, a.name, a.model, a.publish_state, String(a.published_version ?? "-")]),
  );
}

/** The human summary of one batch. */
export function batchSummary(b: Batch): string {
  const done = b.completed_requests + b.failed_requests;
  const lines = [
    `batch ${b.id}${b.name ? ` (${b.name})` : ""}: ${b.status}`,
    `  requests: ${b.total_requests} total, ${b.completed_requests} succeeded, ${b.failed_requests} failed, ${b.pending_requests} pending, ${b.processing_requests} processing (${Math.round(b.progress * 1000) / 10}%)`,
    `  tokens:   ${b.usage.prompt_tokens} prompt + ${b.usage.completion_tokens} completion = ${b.usage.total_tokens}; cost $${b.total_cost}`,
  ];
  const started = b.started_at ?? b.created_at;
  const ended = b.completed_at ?? b.cancelled_at;
  if (started && ended) {
    const seconds = Math.max(0.001, (Date.parse(ended) - Date.parse(started)) / 1000);
    lines.push(`  time:     ${seconds.toFixed(1)} s (${(done / seconds).toFixed(1)} requests/s)`);
  }
  lines.push(`  created:  ${b.created_at}${b.expires_at ? `, expires ${b.expires_at}` : ""}`);
  if (b.error_message) lines.push(`  error:    ${b.error_message}`);
  const errors = b.validation_errors ?? [];
  if (errors.length > 0) {
    lines.push(`  invalid rows: ${errors.length}`);
    for (const e of errors.slice(0, 10)) lines.push(`    row ${e.row}: ${e.error}`);
    if (errors.length > 10) lines.push(`    ... ${errors.length - 10} more (see --json)`);
  }
  return lines.join("\n") + "\n";
}
