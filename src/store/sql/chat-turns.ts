import type { ChatTurnStore, PendingChatCall, PendingChatTurn } from "../chat-turns.js";
import type { NewTurnStep } from "../steps.js";
import type { SqlDriver } from "./driver.js";
import { json, n } from "./rows.js";
import { stepOfRow } from "./steps.js";

/** Chat turns waiting on client tool calls, and their steps so far. */
export class SqlChatTurnStore implements ChatTurnStore {
  constructor(private readonly db: SqlDriver) {}

  async getPending(chatId: number): Promise<PendingChatTurn | null> {
    const row = await this.db.get("SELECT * FROM chat_pending_turns WHERE chat_id = ?", [chatId]);
    if (!row) return null;
    const steps = await this.db.all("SELECT * FROM chat_turn_steps WHERE chat_id = ? ORDER BY step_index", [
      chatId,
    ]);
    return {
      chatId: n(row.chat_id),
      turn: json<Record<string, unknown>>(row.turn) ?? {},
      calls: json<PendingChatCall[]>(row.calls) ?? [],
      steps: steps.map(stepOfRow),
      createdAt: n(row.created_at),
    };
  }

  savePending(
    pending: Omit<PendingChatTurn, "steps" | "createdAt">,
    steps: NewTurnStep[],
    now: number,
    options: { continues?: boolean } = {},
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const replaced = await tx.run("DELETE FROM chat_pending_turns WHERE chat_id = ?", [pending.chatId]);
      if (options.continues && replaced === 0) return false;
      await tx.run("DELETE FROM chat_turn_steps WHERE chat_id = ?", [pending.chatId]);
      await tx.run("INSERT INTO chat_pending_turns (chat_id, turn, calls, created_at) VALUES (?, ?, ?, ?)", [
        pending.chatId,
        JSON.stringify(pending.turn),
        JSON.stringify(pending.calls),
        now,
      ]);
      for (const s of steps) {
        await tx.run(
          `INSERT INTO chat_turn_steps (chat_id, step_index, kind, payload, prompt_tokens, completion_tokens,
             duration_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            pending.chatId,
            s.index,
            s.kind,
            JSON.stringify(s.payload),
            s.promptTokens,
            s.completionTokens,
            s.durationMs,
            now,
          ],
        );
      }
      return true;
    });
  }

  clearPending(chatId: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.run("DELETE FROM chat_turn_steps WHERE chat_id = ?", [chatId]);
      return (await tx.run("DELETE FROM chat_pending_turns WHERE chat_id = ?", [chatId])) > 0;
    });
  }
}
