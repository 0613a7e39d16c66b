/**
 * The group commit's successes, written a group at a time: one fenced UPDATE of the items, one
 * INSERT of the new chats, one of the messages, one of their files, whatever the group's size.
 * Written per item these were five round trips an item, which is what bounded PostgreSQL's
 * throughput (measured in bench/README.md); on SQLite they cost little either way.
 */
import { cachedPromptTokensOf, replyMeta, responseUsageJson } from "../../domain/usage.js";
import type { ItemOutcome } from "../items.js";
import { type Delta, enqueueOutcomeEvent } from "./counters.js";
import {
  type DriverCapabilities,
  KeptTexts,
  marks,
  type SqlExecutor,
  type SqlTransaction,
  statementGroups,
  updateVerb,
} from "./driver.js";
import { type OutboxBatch, wantsItemEvents } from "./outbox-rows.js";
import { n } from "./rows.js";

export type SuccessOutcome = Extract<ItemOutcome, { kind: "success" }>;

/** A success with the ids of the rows its chat turn will get. */
interface PlannedTurn {
  o: SuccessOutcome;
  chatId: number;
  /** True when the turn opens its chat. */
  newChat: boolean;
  questionId: number;
  answerId: number;
}

/**
 * Rows per multi-row statement (items, chats). The bundled SQLite allows 32,766 parameters and
 * PostgreSQL 65,535; a group commit is `commitGroupOf` outcomes (unset, 200, up to 1,000 at thousands of slots;
 * configured, up to 10,000), up to 4 groups merged: rows go in statements of this many. Not more
 * for the items' UPDATE: from ~200 VALUES rows SQLite's planner (no table statistics) scans
 * `batch_items` against an automatic index on the list instead of looking each id up (EXPLAIN
 * QUERY PLAN; a group commit's CPU 11 → 18 µs an item measured, and it grows with the table).
 */
const ROWS_PER_STATEMENT = 100;
/**
 * On PostgreSQL (texts not kept: `preparesPerText` unset) rows per statement are round trips
 * saved, and its planner looks the ids up at any length: a group commit goes in one statement
 * of each kind up to this many rows (11,000 parameters for the messages, under its 65,535). At
 * 100 a group of ~128 was two of each (bench/README.md, "Issue 17 on a medium machine").
 */
const PG_ROWS_PER_STATEMENT = 1000;
/** Rows (turns, for the messages) per multi-row statement on this driver. */
const rowsPerStatement = (tx: { preparesPerText?: boolean }) =>
  tx.preparesPerText ? ROWS_PER_STATEMENT : PG_ROWS_PER_STATEMENT;

/**
 * The columns a success sets from its outcome, each with its SQL type where PostgreSQL cannot
 * infer one from a VALUES list. Adding a result column is one entry here.
 */
const SUCCESS_COLUMNS: { name: string; cast?: string; value: (t: PlannedTurn) => unknown }[] = [
  { name: "response_content", value: (t) => t.o.responseContent },
  { name: "response_usage", value: (t) => responseUsageJson(t.o.responseUsage) },
  {
    name: "response_json",
    value: (t) => (t.o.responseJson === undefined ? null : JSON.stringify(t.o.responseJson)),
  },
  { name: "finish_reason", value: (t) => t.o.finishReason ?? null },
  {
    name: "response_detail",
    value: (t) => (t.o.responseDetail ? JSON.stringify(t.o.responseDetail) : null),
  },
  { name: "chat_id", cast: "BIGINT", value: (t) => t.chatId },
  { name: "conversation_id", cast: "BIGINT", value: (t) => t.questionId },
];

/** Writes the successes its workers still hold; returns how many were applied. */
export async function applySuccesses(
  db: { capabilities: DriverCapabilities },
  tx: SqlTransaction,
  successes: SuccessOutcome[],
  batches: Map<string, OutboxBatch>,
  now: number,
  deltaOf: (batchId: string) => Delta,
): Promise<number> {
  if (successes.length === 0) return 0;
  const planned = await planTurns(tx, successes);
  let fencedOff = false;
  for (const group of statementGroups(tx, planned, rowsPerStatement(tx)))
    if ((await updateItems(db, tx, group, now)) < group.length) fencedOff = true;
  // Every row written (the usual case) needs no read; otherwise the rows the UPDATEs wrote are
  // the ones holding the question id they set (ids reserved in this transaction).
  const applied = fencedOff ? await writtenTurns(tx, planned) : planned;
  await insertChats(tx, applied, now);
  await insertMessages(tx, applied, now);
  if (applied.some((t) => t.o.attachedFileUuids !== undefined)) await insertMessageFiles(tx, applied);
  for (const t of applied) {
    const batch = batches.get(t.o.batchId) as OutboxBatch;
    if (wantsItemEvents(batch)) await enqueueOutcomeEvent(tx, batch, t.o.itemId, now);
    const d = deltaOf(t.o.batchId);
    d.processing -= 1;
    d.succeeded += 1;
    d.promptTokens += t.o.promptTokens;
    // The same count the item's response_usage shows, summed over its model calls.
    d.cachedPromptTokens += cachedPromptTokensOf(t.o.responseUsage);
    d.completionTokens += t.o.completionTokens;
    d.cost += t.o.cost;
  }
  return applied.length;
}

/** Reserves the ids of every chat and message the group may write (unused ones are gaps). */
async function planTurns(tx: SqlTransaction, successes: SuccessOutcome[]): Promise<PlannedTurn[]> {
  const { chats: chatIds, messages: messageIds } = await tx.reserveIds({
    chats: successes.filter((o) => o.historyId === null).length,
    messages: successes.length * 2,
  });
  let nextChat = 0;
  return successes.map((o, i) => {
    const newChat = o.historyId === null;
    return {
      o,
      newChat,
      chatId: newChat ? chatIds[nextChat++] : (o.historyId as number),
      questionId: messageIds[2 * i],
      answerId: messageIds[2 * i + 1],
    };
  });
}

/**
 * Statement texts by kind and row count, built once each (the SQLite driver caches statements by
 * text); PostgreSQL's longer ones (over `ROWS_PER_STATEMENT` rows) in `KeptTexts`' LRU. The same
 * object for the same count also spares the PostgreSQL driver's lookup a hash of the whole text.
 */
const texts = new KeptTexts();
const textFor = (kind: string, rows: number, build: (rows: number) => string): string =>
  texts.get(`${kind}:${rows}`, rows > ROWS_PER_STATEMENT, () => build(rows));

function updateItemsText(verb: string, rows: number): string {
  const cols = ["id", "owner", "attempt", ...SUCCESS_COLUMNS.map((c) => c.name)];
  const cell = (cast?: string) => (cast ? `CAST(? AS ${cast})` : "?");
  const rowSql = `(${[cell("BIGINT"), cell(), cell("INTEGER"), ...SUCCESS_COLUMNS.map((c) => cell(c.cast))].join(", ")})`;
  const sets = SUCCESS_COLUMNS.map((c) => `${c.name} = v.${c.name}`).join(", ");
  return `WITH v(${cols.join(", ")}) AS (VALUES ${new Array(rows).fill(rowSql).join(", ")})
     ${verb} batch_items SET status = 'success', ${sets}, error_code = NULL, error_message = NULL,
       processed_at = ?, lease_owner = NULL, lease_expires_at = NULL
     FROM v WHERE batch_items.id = v.id AND batch_items.lease_owner = v.owner
       AND batch_items.attempts = v.attempt AND batch_items.status = 'processing'`;
}

/**
 * One fenced UPDATE for the group: an item is written only if its worker still holds it. Returns
 * how many were. No RETURNING: SQLite runs one as a trigger program per row, and the rows it
 * returned (the ids, the attached files) are known already unless an item was fenced off.
 */
function updateItems(
  db: { capabilities: DriverCapabilities },
  tx: SqlExecutor,
  group: PlannedTurn[],
  now: number,
) {
  // Set in place: the group's length is known (no array grown by push).
  const params: unknown[] = new Array(group.length * (3 + SUCCESS_COLUMNS.length) + 1);
  let p = 0;
  for (const t of group) {
    params[p++] = t.o.itemId;
    params[p++] = t.o.leaseOwner;
    params[p++] = t.o.attempt;
    for (const c of SUCCESS_COLUMNS) params[p++] = c.value(t);
  }
  params[p] = now;
  const verb = updateVerb(db);
  return tx.run(
    textFor(verb, group.length, (rows) => updateItemsText(verb, rows)),
    params,
  );
}

const insertChatsText = (rows: number) =>
  `INSERT INTO chats (id, workspace_id, agent_id, name, external_user_id, created_at, updated_at)
       VALUES ${new Array(rows).fill("(?, ?, ?, ?, ?, ?, ?)").join(", ")}`;

async function insertChats(tx: SqlExecutor, turns: PlannedTurn[], now: number): Promise<void> {
  for (const group of statementGroups(
    tx,
    turns.filter((t) => t.newChat),
    rowsPerStatement(tx),
  )) {
    const params: unknown[] = [];
    for (const t of group)
      params.push(t.chatId, t.o.workspaceId, t.o.agentId, t.o.chatName, t.o.externalUserId, now, now);
    await tx.run(textFor("chats", group.length, insertChatsText), params);
  }
  const continued = [...new Set(turns.filter((t) => !t.newChat).map((t) => t.chatId))];
  for (const group of statementGroups(tx, continued)) {
    await tx.run(`UPDATE chats SET updated_at = ? WHERE id IN (${marks(group.length)})`, [now, ...group]);
  }
}

/** The roles and the question's empty group are written in the text: fewer values to bind. */
const insertMessagesText = (turns: number) =>
  `INSERT INTO messages (id, chat_id, group_id, role, content, meta, created_at)
       VALUES ${new Array(turns).fill("(?, ?, NULL, 'user', ?, ?, ?), (?, ?, ?, 'assistant', ?, ?, ?)").join(", ")}`;

/** The question and the answer of each turn, as a chat message written alone would store them. */
async function insertMessages(tx: SqlExecutor, turns: PlannedTurn[], now: number): Promise<void> {
  /** The question's meta and the end of the answer's, the same texts for every turn of a batch. */
  const metas = new Map<string, { question: string; answerEnd: string }>();
  for (const group of statementGroups(tx, turns, rowsPerStatement(tx))) {
    // 11 parameters a turn, set in place (no array grown by push).
    const params: unknown[] = new Array(group.length * 11);
    let p = 0;
    for (const t of group) {
      const { o } = t;
      let meta = metas.get(o.batchId);
      if (meta === undefined) {
        const batchId = JSON.stringify(o.batchId);
        meta = { question: `{"batch_id":${batchId}}`, answerEnd: `,"batch_id":${batchId}}` };
        metas.set(o.batchId, meta);
      }
      params[p++] = t.questionId;
      params[p++] = t.chatId;
      params[p++] = o.message;
      params[p++] = meta.question;
      params[p++] = now;
      params[p++] = t.answerId;
      params[p++] = t.chatId;
      params[p++] = t.questionId;
      params[p++] = o.responseContent;
      params[p++] = answerMeta(o, meta.answerEnd);
      params[p++] = now;
    }
    await tx.run(textFor("messages", group.length, insertMessagesText), params);
  }
}

/**
 * The answer's meta: `replyMeta`'s object with the batch id after it, as `JSON.stringify` writes
 * it (`end` is `,"batch_id":…}`), without the two objects per answer.
 */
function answerMeta(o: SuccessOutcome, end: string): string {
  const { promptTokens, completionTokens, responseTimeMs } = o;
  if (!Number.isFinite(promptTokens + completionTokens + responseTimeMs)) {
    const meta: Record<string, unknown> = replyMeta(promptTokens, completionTokens, responseTimeMs);
    return `${JSON.stringify(meta).slice(0, -1)}${end}`;
  }
  return `{"token_usage":{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}},"response_time_ms":${responseTimeMs}${end}`;
}

/** The turns whose item the group's UPDATE wrote: those whose row now holds their question's id. */
async function writtenTurns(tx: SqlExecutor, planned: PlannedTurn[]): Promise<PlannedTurn[]> {
  const written = new Set<number>();
  for (const group of statementGroups(tx, planned)) {
    const rows = await tx.all(
      `SELECT conversation_id FROM batch_items WHERE id IN (${marks(group.length)}) AND status = 'success'`,
      group.map((t) => t.o.itemId),
    );
    for (const r of rows) if (r.conversation_id !== null) written.add(n(r.conversation_id));
  }
  return planned.filter((t) => written.has(t.questionId));
}

async function insertMessageFiles(tx: SqlExecutor, turns: PlannedTurn[]): Promise<void> {
  const rows = turns.flatMap((t) =>
    [...new Set(t.o.attachedFileUuids ?? [])].map((fileId, position) => [t.questionId, fileId, position]),
  );
  for (const group of statementGroups(tx, rows, rowsPerStatement(tx))) {
    await tx.run(
      `INSERT INTO message_files (message_id, file_id, position) VALUES ${group.map(() => "(?, ?, ?)").join(", ")}`,
      group.flat(),
    );
  }
}
