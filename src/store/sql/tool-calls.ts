import type { Page, PageQuery } from "../page.js";
import type {
  PendingToolCall,
  ToolCallStore,
  ToolOutputEntry,
  ToolOutputsReport,
  ToolOutputVerdict,
} from "../tool-calls.js";
import { Deltas } from "./counters.js";
import type { Row, SqlDriver, SqlExecutor } from "./driver.js";
import { n } from "./rows.js";

const PENDING = `FROM item_tool_calls c JOIN batch_items i ON i.id = c.item_id
  WHERE c.batch_id = ? AND c.status = 'pending' AND i.status = 'awaiting_tool_calls'`;

/** Client tool calls: listed for API clients, answered into the items' durable steps. */
export class SqlToolCallStore implements ToolCallStore {
  constructor(private readonly db: SqlDriver) {}

  async listPending(batchId: string, page: PageQuery): Promise<Page<PendingToolCall>> {
    const rows = await this.db.all(
      `SELECT c.call_id, c.tool, c.arguments, c.created_at, i.custom_id ${PENDING}
       ORDER BY c.created_at, c.call_id LIMIT ? OFFSET ?`,
      [batchId, page.limit, page.offset],
    );
    const total = (await this.db.get(`SELECT COUNT(*) AS c ${PENDING}`, [batchId])) as Row;
    return {
      rows: rows.map((r) => ({
        callId: r.call_id,
        customId: r.custom_id,
        tool: r.tool,
        arguments: r.arguments,
        createdAt: n(r.created_at),
      })),
      total: n(total.c),
    };
  }

  submitOutputs(batchId: string, outputs: ToolOutputEntry[], now: number): Promise<ToolOutputsReport> {
    return this.db.transaction(async (tx) => {
      const results: ToolOutputVerdict[] = [];
      const items = new Set<number>();
      const seen = new Set<string>();
      for (const o of outputs) {
        const verdict = seen.has(o.callId)
          ? { callId: o.callId, accepted: false as const, reason: "call_id given twice in this request" }
          : await answer(tx, batchId, o, now, items);
        seen.add(o.callId);
        results.push(verdict);
      }
      const resumed = await resumeAnswered(
        tx,
        batchId,
        [...items].sort((a, b) => a - b),
      );
      return { results, resumed };
    });
  }
}

/** Stores one output as its call's result step (the step payload of agents/tools/transcript.ts). */
async function answer(
  tx: SqlExecutor,
  batchId: string,
  o: ToolOutputEntry,
  now: number,
  items: Set<number>,
): Promise<ToolOutputVerdict> {
  const row = await tx.get(
    `SELECT c.*, i.status AS item_status FROM item_tool_calls c JOIN batch_items i ON i.id = c.item_id
     WHERE c.call_id = ? AND c.batch_id = ?`,
    [o.callId, batchId],
  );
  if (!row) return { callId: o.callId, accepted: false, reason: "unknown call_id" };
  if (row.status !== "pending") return { callId: o.callId, accepted: false, reason: "already answered" };
  if (row.item_status !== "awaiting_tool_calls") {
    return {
      callId: o.callId,
      accepted: false,
      reason: `the request is no longer waiting (${row.item_status})`,
    };
  }
  await tx.run("UPDATE item_tool_calls SET status = 'answered', answered_at = ? WHERE call_id = ?", [
    now,
    o.callId,
  ]);
  const payload = {
    call_id: o.callId,
    provider_id: row.provider_id,
    name: row.tool,
    output: o.output,
    is_error: false,
  };
  await tx.run(
    `INSERT INTO item_steps (item_id, step_index, kind, payload, created_at) VALUES (?, ?, 'tool', ?, ?)
     ON CONFLICT (item_id, step_index) DO NOTHING`,
    [row.item_id, row.step_index, JSON.stringify(payload), now],
  );
  items.add(n(row.item_id));
  return { callId: o.callId, accepted: true };
}

/** Items whose every call is answered go back to pending; returns how many. */
async function resumeAnswered(tx: SqlExecutor, batchId: string, itemIds: number[]): Promise<number> {
  const deltas = new Deltas();
  let resumed = 0;
  for (const id of itemIds) {
    const left = (await tx.get(
      "SELECT COUNT(*) AS c FROM item_tool_calls WHERE item_id = ? AND status = 'pending'",
      [id],
    )) as Row;
    if (n(left.c) > 0) continue;
    const moved = await tx.run(
      "UPDATE batch_items SET status = 'pending', not_before = 0 WHERE id = ? AND status = 'awaiting_tool_calls'",
      [id],
    );
    resumed += moved;
  }
  const d = deltas.of(batchId);
  d.awaiting -= resumed;
  d.pending += resumed;
  await deltas.write(tx);
  return resumed;
}
