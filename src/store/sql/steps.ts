import type { NewTurnStep, StepFence, StepStore, TurnStep } from "../steps.js";
import type { Row, SqlDriver } from "./driver.js";
import { json, n } from "./rows.js";

/** Durable steps of tool-using turns, written only under the item's current lease. */
export class SqlStepStore implements StepStore {
  constructor(private readonly db: SqlDriver) {}

  async append(fence: StepFence, step: NewTurnStep, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `INSERT INTO item_steps (item_id, step_index, kind, payload, prompt_tokens, completion_tokens, duration_ms,
         created_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM batch_items
       WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing'
       ON CONFLICT (item_id, step_index) DO NOTHING`,
      [
        fence.itemId,
        step.index,
        step.kind,
        JSON.stringify(step.payload),
        step.promptTokens,
        step.completionTokens,
        step.durationMs,
        now,
        fence.itemId,
        fence.leaseOwner,
        fence.attempt,
      ],
    );
    return changed > 0;
  }

  async list(itemId: number): Promise<TurnStep[]> {
    const rows = await this.db.all("SELECT * FROM item_steps WHERE item_id = ? ORDER BY step_index", [
      itemId,
    ]);
    return rows.map(stepOfRow);
  }
}

/** A stored step's row (`item_steps`, `chat_turn_steps`: the same columns) as a step. */
export function stepOfRow(r: Row): TurnStep {
  return {
    index: n(r.step_index),
    kind: r.kind,
    payload: json<Record<string, unknown>>(r.payload) ?? {},
    promptTokens: n(r.prompt_tokens),
    completionTokens: n(r.completion_tokens),
    durationMs: n(r.duration_ms),
    createdAt: n(r.created_at),
  };
}
