/**
 * Store conformance: a chat turn waiting on client tool calls, kept with its steps, replaced when
 * it continues and waits again, forgotten when it completes. Runs against SQLite and PostgreSQL.
 */
import { expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import type { NewTurnStep } from "../../src/store/types.js";
import { seedWorkspace, useTestStore } from "../helpers/store.js";

let store: Store;
useTestStore((s) => (store = s));

const step = (index: number, kind: "model" | "tool" = "model"): NewTurnStep => ({
  index,
  kind,
  payload: { text: `step ${index}` },
  promptTokens: 5,
  completionTokens: 3,
  durationMs: 11,
});
const call = (callId: string, stepIndex: number) => ({
  callId,
  providerId: `p-${callId}`,
  tool: "ask_user",
  arguments: '{"question":"?"}',
  stepIndex,
});

it("keeps a pending turn with its steps, replaces it, and forgets it", async () => {
  const { workspaceId, agentId } = await seedWorkspace(store);
  const chat = await store.chats.create(
    { workspaceId, agentId, name: "c", externalUserId: null },
    Date.now(),
  );
  const other = await store.chats.create(
    { workspaceId, agentId, name: "d", externalUserId: null },
    Date.now(),
  );
  expect(await store.chatTurns.getPending(chat.id)).toBeNull();

  const turn = { message: "hi", agent_version: 1 };
  await store.chatTurns.savePending({ chatId: chat.id, turn, calls: [call("c1", 1)] }, [step(0)], 100);
  const first = await store.chatTurns.getPending(chat.id);
  expect(first).toMatchObject({ chatId: chat.id, turn, calls: [call("c1", 1)], createdAt: 100 });
  expect(first?.steps.map((s) => [s.index, s.kind, s.payload.text])).toEqual([[0, "model", "step 0"]]);
  expect(first?.steps[0]).toMatchObject({ promptTokens: 5, completionTokens: 3, durationMs: 11 });
  expect(await store.chatTurns.getPending(other.id)).toBeNull();

  // Continued and waiting again: the steps are exactly the new ones, the calls the new ones.
  await store.chatTurns.savePending(
    { chatId: chat.id, turn, calls: [call("c2", 3)] },
    [step(2), step(0), step(1, "tool")],
    200,
  );
  const second = await store.chatTurns.getPending(chat.id);
  expect(second?.calls.map((c) => c.callId)).toEqual(["c2"]);
  expect(second?.steps.map((s) => [s.index, s.kind])).toEqual([
    [0, "model"],
    [1, "tool"],
    [2, "model"],
  ]);

  expect(await store.chatTurns.clearPending(chat.id)).toBe(true);
  expect(await store.chatTurns.getPending(chat.id)).toBeNull();
  expect(await store.chatTurns.clearPending(chat.id)).toBe(false);

  // A continuation that waits again saves nothing once its turn was cleared (cancelled).
  const again = { chatId: chat.id, turn, calls: [call("c3", 5)] };
  expect(await store.chatTurns.savePending(again, [step(4)], 300, { continues: true })).toBe(false);
  expect(await store.chatTurns.getPending(chat.id)).toBeNull();
});
