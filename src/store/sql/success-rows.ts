/**
 * The group commit's successes, written a group at a time: one fenced UPDATE of the items, one
 * INSERT of the new chats, one of the messages, one of their files, whatever the group's size
 * (SQLite: multi-row VALUES lists of up to `ROWS_PER_STATEMENT` rows; PostgreSQL: the first three
 * in one statement, success-statement.ts). Written per item these were five round trips an item,
 * which is what bounded PostgreSQL's throughput (measured in bench/README.md).
 */
import { cachedPromptTokensOf } from "../../domain/usage.js";
import { type Delta, enqueueOutcomeEvent } from "./counters.js";
import {
  type DriverCapabilities,
  marks,
  type SqlExecutor,
  type SqlTransaction,
  statementGroups,
  updateVerb,
} from "./driver.js";
import { type OutboxBatch, wantsItemEvents } from "./outbox-rows.js";
import { n } from "./rows.js";
import { writeSuccessesInOneStatement } from "./success-statement.js";
import {
  answerMeta,
  batchMetas,
  RESULT_COLUMNS,
  type SuccessOutcome,
  type WrittenTurn,
} from "./success-values.js";

export type { SuccessOutcome } from "./success-values.js";

/** A success with the ids of the rows its chat turn will get. */
interface PlannedTurn extends WrittenTurn {
  chatId: number;
  /** True when the turn opens its chat. */
  newChat: boolean;
  answerId: number;
}

/**
 * Rows per multi-row statement (items, chats, message files; turns, for the messages). The
 * bundled SQLite allows 32,766 parameters; a group commit is `commitGroupOf` outcomes (unset, 200,
 * up to 1,000 at thousands of slots; configured, up to 10,000), up to 4 groups merged: rows go in
 * statements of this many. Not more for the items' UPDATE: from ~200 VALUES rows SQLite's planner
 * (no table statistics) scans `batch_items` against an automatic index on the list instead of
 * looking each id up (EXPLAIN QUERY PLAN; a group commit's CPU 11 → 18 µs an item measured, and
 * it grows with the table).
 */
const ROWS_PER_STATEMENT = 100;

/**
 * The columns a success sets on its item: its results, then its chat and question, each with its
 * SQL type where it is not TEXT (a VALUES list's cells carry no type of their column).
 */
const SUCCESS_COLUMNS: { name: string; cast?: string; value: (t: PlannedTurn) => unknown }[] = [
  ...RESULT_COLUMNS.map((c) => ({ name: c.name, value: (t: PlannedTurn) => c.value(t.o) })),
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
  const applied = tx.arrayParams
    ? await writeSuccessesInOneStatement(tx, successes, now)
    : await writeSuccessesInStatements(db, tx, successes, now);
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

/** The items' UPDATEs, then the chats and messages of the items they wrote. */
async function writeSuccessesInStatements(
  db: { capabilities: DriverCapabilities },
  tx: SqlTransaction,
  successes: SuccessOutcome[],
  now: number,
): Promise<WrittenTurn[]> {
  const planned = await planTurns(tx, successes);
  let fencedOff = false;
  for (const group of statementGroups(tx, planned, ROWS_PER_STATEMENT))
    if ((await updateItems(db, tx, group, now)) < group.length) fencedOff = true;
  // Every row written (the usual case) needs no read; otherwise the rows the UPDATEs wrote are
  // the ones holding the question id they set (ids reserved in this transaction).
  const applied = fencedOff ? await writtenTurns(tx, planned) : planned;
  await insertChats(tx, applied, now);
  await insertMessages(tx, applied, now);
  return applied;
}

/** Reserves the ids of every chat and message the group may write (unused ones are gaps). */
async function planTurns(tx: SqlTransaction, successes: SuccessOutcome[]): Promise<PlannedTurn[]> {
  if (!tx.reserveIds)
    throw new Error("success rows: this driver reserves no ids (it writes them in one statement)");
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
 * Statement texts by kind and row count (at most `ROWS_PER_STATEMENT`), built once each: the
 * SQLite driver caches its prepared statements by text.
 */
const texts = new Map<string, string>();
function textFor(kind: string, rows: number, build: (rows: number) => string): string {
  const key = `${kind}:${rows}`;
  let text = texts.get(key);
  if (text === undefined) {
    text = build(rows);
    texts.set(key, text);
  }
  return text;
}

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
    ROWS_PER_STATEMENT,
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
  const metaOf = batchMetas();
  for (const group of statementGroups(tx, turns, ROWS_PER_STATEMENT)) {
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

async function insertMessageFiles(tx: SqlExecutor, turns: WrittenTurn[]): Promise<void> {
  const rows = turns.flatMap((t) =>
    [...new Set(t.o.attachedFileUuids ?? [])].map((fileId, position) => [t.questionId, fileId, position]),
  );
  for (const group of statementGroups(tx, rows, ROWS_PER_STATEMENT)) {
    await tx.run(
      `INSERT INTO message_files (message_id, file_id, position) VALUES ${group.map(() => "(?, ?, ?)").join(", ")}`,
      group.flat(),
    );
  }
}
