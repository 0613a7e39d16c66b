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
  type SqlDriver,
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
 * infer one from a VALUES list (`cast`; TEXT otherwise). Adding a result column is one entry here.
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

/** What the success rows need of the driver: its capabilities, and its kept plans (`arrayParams`). */
export type SuccessDriver = Pick<SqlDriver, "capabilities" | "keepPlan">;

/** Writes the successes its workers still hold; returns how many were applied. */
export async function applySuccesses(
  db: SuccessDriver,
  tx: SqlTransaction,
  successes: SuccessOutcome[],
  batches: Map<string, OutboxBatch>,
  now: number,
  deltaOf: (batchId: string) => Delta,
): Promise<number> {
  if (successes.length === 0) return 0;
  const planned = await planTurns(tx, successes);
  let fencedOff = false;
  if (tx.arrayParams) fencedOff = (await updateItemsFromArrays(db, tx, planned, now)) < planned.length;
  else
    for (const group of statementGroups(tx, planned, rowsPerStatement(tx)))
      if ((await updateItems(db, tx, group, now)) < group.length) fencedOff = true;
  // Every row written (the usual case) needs no read; otherwise the rows the UPDATEs wrote are
  // the ones holding the question id they set (ids reserved in this transaction).
  const applied = fencedOff ? await writtenTurns(tx, planned) : planned;
  if (tx.arrayParams) {
    await insertChatsFromArrays(db, tx, applied, now);
    await insertMessagesFromArrays(db, tx, applied, now);
  } else {
    await insertChats(tx, applied, now);
    await insertMessages(tx, applied, now);
  }
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

/**
 * The question's meta and the end of the answer's (`answerMeta`) by batch: the same texts for
 * every turn of a batch, built once a group.
 */
function batchMetas(): (batchId: string) => { question: string; answerEnd: string } {
  const metas = new Map<string, { question: string; answerEnd: string }>();
  return (batchId) => {
    let meta = metas.get(batchId);
    if (meta === undefined) {
      const id = JSON.stringify(batchId);
      meta = { question: `{"batch_id":${id}}`, answerEnd: `,"batch_id":${id}}` };
      metas.set(batchId, meta);
    }
    return meta;
  };
}

/** The question and the answer of each turn, as a chat message written alone would store them. */
async function insertMessages(tx: SqlExecutor, turns: PlannedTurn[], now: number): Promise<void> {
  const metaOf = batchMetas();
  for (const group of statementGroups(tx, turns, rowsPerStatement(tx))) {
    // 11 parameters a turn, set in place (no array grown by push).
    const params: unknown[] = new Array(group.length * 11);
    let p = 0;
    for (const t of group) {
      const { o } = t;
      const meta = metaOf(o.batchId);
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

/*
 * The same writes where parameters can be arrays (PostgreSQL): one statement of each kind for the
 * whole group, its rows as one array per column (`unnest`), under a text kept once (`keepPlan`).
 * As VALUES lists, a group of ~120 was ~2,000 parameters in texts of every row count, each
 * parsed, bound and planned at every commit (the items' UPDATE alone ~9 ms of a ~30 ms commit at
 * 50 ms upstream latency); as arrays each kind is one text, prepared once per connection and
 * planned from PostgreSQL's plan cache, with a dozen parameters whatever the group's size
 * (bench/README.md, "Issue 17.1, a group commit's plans kept"). The ingest's INSERT does the same
 * (batch-rows.ts, `unnestText`).
 */

const UPDATE_ITEMS_FROM_ARRAYS = `UPDATE batch_items SET status = 'success', ${SUCCESS_COLUMNS.map((c) => `${c.name} = v.${c.name}`).join(", ")},
       error_code = NULL, error_message = NULL, processed_at = CAST(? AS BIGINT), lease_owner = NULL, lease_expires_at = NULL
     FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS INTEGER[]), ${SUCCESS_COLUMNS.map((c) => `CAST(? AS ${c.cast ?? "TEXT"}[])`).join(", ")})
       AS v(id, owner, attempt, ${SUCCESS_COLUMNS.map((c) => c.name).join(", ")})
     WHERE batch_items.id = v.id AND batch_items.lease_owner = v.owner
       AND batch_items.attempts = v.attempt AND batch_items.status = 'processing'`;

/** `updateItems` for the whole group, its values as arrays; returns how many rows it wrote. */
function updateItemsFromArrays(db: SuccessDriver, tx: SqlExecutor, turns: PlannedTurn[], now: number) {
  const ids = new Array(turns.length);
  const owners = new Array(turns.length);
  const attempts = new Array(turns.length);
  const columns = SUCCESS_COLUMNS.map(() => new Array(turns.length));
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i];
    ids[i] = t.o.itemId;
    owners[i] = t.o.leaseOwner;
    attempts[i] = t.o.attempt;
    for (let c = 0; c < SUCCESS_COLUMNS.length; c++) columns[c][i] = SUCCESS_COLUMNS[c].value(t);
  }
  return tx.run(db.keepPlan(UPDATE_ITEMS_FROM_ARRAYS), [now, ids, owners, attempts, ...columns]);
}

const INSERT_CHATS_FROM_ARRAYS = `INSERT INTO chats (id, workspace_id, agent_id, name, external_user_id, created_at, updated_at)
     SELECT v.id, v.workspace_id, v.agent_id, v.name, v.external_user_id, CAST(? AS BIGINT), CAST(? AS BIGINT)
     FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]))
       AS v(id, workspace_id, agent_id, name, external_user_id)`;
const TOUCH_CHATS_FROM_ARRAY =
  "UPDATE chats SET updated_at = CAST(? AS BIGINT) WHERE id = ANY(CAST(? AS BIGINT[]))";

/** `insertChats` for the whole group: the new chats in one INSERT, the continued ones in one UPDATE. */
async function insertChatsFromArrays(db: SuccessDriver, tx: SqlExecutor, turns: PlannedTurn[], now: number) {
  const opened = turns.filter((t) => t.newChat);
  if (opened.length > 0) {
    await tx.run(db.keepPlan(INSERT_CHATS_FROM_ARRAYS), [
      now,
      now,
      opened.map((t) => t.chatId),
      opened.map((t) => t.o.workspaceId),
      opened.map((t) => t.o.agentId),
      opened.map((t) => t.o.chatName),
      opened.map((t) => t.o.externalUserId),
    ]);
  }
  const continued = [...new Set(turns.filter((t) => !t.newChat).map((t) => t.chatId))];
  if (continued.length > 0) await tx.run(db.keepPlan(TOUCH_CHATS_FROM_ARRAY), [now, continued]);
}

/** A question has no group; an answer's group is its question: the role follows from it. */
const INSERT_MESSAGES_FROM_ARRAYS = `INSERT INTO messages (id, chat_id, group_id, role, content, meta, created_at)
     SELECT v.id, v.chat_id, v.group_id, CASE WHEN v.group_id IS NULL THEN 'user' ELSE 'assistant' END,
       v.content, v.meta, CAST(? AS BIGINT)
     FROM unnest(CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]))
       AS v(id, chat_id, group_id, content, meta)`;

/** `insertMessages` for the whole group: each turn's question and answer, two elements of each array. */
async function insertMessagesFromArrays(
  db: SuccessDriver,
  tx: SqlExecutor,
  turns: PlannedTurn[],
  now: number,
) {
  if (turns.length === 0) return;
  const size = turns.length * 2;
  const ids = new Array(size);
  const chatIds = new Array(size);
  const groupIds = new Array(size);
  const contents = new Array(size);
  const metas = new Array(size);
  const metaOf = batchMetas();
  let i = 0;
  for (const t of turns) {
    const { o } = t;
    const meta = metaOf(o.batchId);
    ids[i] = t.questionId;
    chatIds[i] = t.chatId;
    groupIds[i] = null;
    contents[i] = o.message;
    metas[i++] = meta.question;
    ids[i] = t.answerId;
    chatIds[i] = t.chatId;
    groupIds[i] = t.questionId;
    contents[i] = o.responseContent;
    metas[i++] = answerMeta(o, meta.answerEnd);
  }
  await tx.run(db.keepPlan(INSERT_MESSAGES_FROM_ARRAYS), [now, ids, chatIds, groupIds, contents, metas]);
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
