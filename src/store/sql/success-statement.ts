/**
 * A group commit's successes in one statement, where parameters can be arrays (PostgreSQL): the
 * fenced UPDATE of the items, their new chats (and the `updated_at` of the continued ones) and
 * both messages of each turn, as writing CTEs over the group's values sent as one array per
 * column (`unnest`), under one text kept as a named prepared statement (`keepPlan`) whatever the
 * group's size. The chat and message ids come from their sequences in the statement.
 *
 * Written as SQLite writes them (success-rows.ts) these were four round trips a group commit (the
 * ids reserved, the UPDATE, the chats, the messages), each a VALUES list of every row count,
 * parsed and planned again at every commit: ~20 of a ~30 ms commit at 50 ms upstream latency
 * (bench/README.md, "Issue 17.1, a group commit in one statement").
 */
import type { SqlExecutor } from "./driver.js";
import { n } from "./rows.js";
import {
  answerMeta,
  batchMetas,
  RESULT_COLUMNS,
  type SuccessOutcome,
  type WrittenTurn,
} from "./success-values.js";

/** The columns of the group's values (`v`), each sent as an array of its SQL type. */
const VALUE_COLUMNS: { name: string; type: string }[] = [
  { name: "id", type: "BIGINT" },
  { name: "owner", type: "TEXT" },
  { name: "attempt", type: "INTEGER" },
  { name: "history_id", type: "BIGINT" },
  ...RESULT_COLUMNS.map((c) => ({ name: c.name, type: "TEXT" })),
  { name: "workspace_id", type: "TEXT" },
  { name: "agent_id", type: "TEXT" },
  { name: "chat_name", type: "TEXT" },
  { name: "external_user_id", type: "TEXT" },
  { name: "message", type: "TEXT" },
  { name: "question_meta", type: "TEXT" },
  { name: "answer_meta", type: "TEXT" },
];

/** The values of one success, in `VALUE_COLUMNS` order. */
function valuesOf(o: SuccessOutcome, meta: { question: string; answerEnd: string }): unknown[] {
  return [
    o.itemId,
    o.leaseOwner,
    o.attempt,
    o.historyId,
    ...RESULT_COLUMNS.map((c) => c.value(o)),
    o.workspaceId,
    o.agentId,
    o.chatName,
    o.externalUserId,
    o.message,
    meta.question,
    answerMeta(o, meta.answerEnd),
  ];
}

/**
 * `v`: the group's values (`ord`: a value's place in the arrays), each with the ids of its chat
 * (a new one unless it continues `history_id`) and its two messages. Read twice (the UPDATE, `w`),
 * so PostgreSQL evaluates it once (a CTE with volatile functions is never inlined): each row's
 * ids are drawn once, the question's before the answer's (a target list is evaluated in order),
 * so the two messages read back in order. `upd` is the fenced UPDATE: an item is written only if its worker still holds it,
 * and `w` is the values of the rows it wrote, matched on the question id the row now holds (an
 * item given twice in a group is written by one of its values only, and only that one's chat and
 * messages are written). The chats' and messages' foreign keys are checked at the statement's end,
 * when every CTE has run.
 */
const SUCCESSES_IN_ONE_STATEMENT = `WITH v AS (
       SELECT u.*,
         CASE WHEN u.history_id IS NULL THEN nextval(pg_get_serial_sequence('chats', 'id')) ELSE u.history_id END AS chat_id,
         nextval(pg_get_serial_sequence('messages', 'id')) AS question_id,
         nextval(pg_get_serial_sequence('messages', 'id')) AS answer_id
       FROM unnest(${VALUE_COLUMNS.map((c) => `CAST(? AS ${c.type}[])`).join(", ")}) WITH ORDINALITY
         AS u(${VALUE_COLUMNS.map((c) => c.name).join(", ")}, ord)),
     upd AS (
       UPDATE batch_items SET status = 'success', ${RESULT_COLUMNS.map((c) => `${c.name} = v.${c.name}`).join(", ")},
         chat_id = v.chat_id, conversation_id = v.question_id, error_code = NULL, error_message = NULL,
         processed_at = CAST(? AS BIGINT), lease_owner = NULL, lease_expires_at = NULL
       FROM v WHERE batch_items.id = v.id AND batch_items.lease_owner = v.owner
         AND batch_items.attempts = v.attempt AND batch_items.status = 'processing'
       RETURNING batch_items.conversation_id),
     w AS (SELECT v.* FROM v JOIN upd ON upd.conversation_id = v.question_id),
     opened AS (
       INSERT INTO chats (id, workspace_id, agent_id, name, external_user_id, created_at, updated_at)
       SELECT chat_id, workspace_id, agent_id, chat_name, external_user_id, CAST(? AS BIGINT), CAST(? AS BIGINT)
       FROM w WHERE history_id IS NULL),
     continued AS (
       UPDATE chats SET updated_at = CAST(? AS BIGINT)
       WHERE id IN (SELECT chat_id FROM w WHERE history_id IS NOT NULL)),
     said AS (
       INSERT INTO messages (id, chat_id, group_id, role, content, meta, created_at)
       SELECT question_id, chat_id, NULL, 'user', message, question_meta, CAST(? AS BIGINT) FROM w
       UNION ALL
       SELECT answer_id, chat_id, question_id, 'assistant', response_content, answer_meta, CAST(? AS BIGINT) FROM w)
     SELECT ord, question_id FROM w`;

/** Writes the successes their workers still hold, in one statement; returns those written. */
export async function writeSuccessesInOneStatement(
  tx: SqlExecutor,
  successes: SuccessOutcome[],
  now: number,
): Promise<WrittenTurn[]> {
  // One array per column, set in place.
  const columns = VALUE_COLUMNS.map(() => new Array(successes.length));
  const metaOf = batchMetas();
  for (let i = 0; i < successes.length; i++) {
    const values = valuesOf(successes[i], metaOf(successes[i].batchId));
    for (let c = 0; c < columns.length; c++) columns[c][i] = values[c];
  }
  const rows = await tx.all(tx.keepPlan(SUCCESSES_IN_ONE_STATEMENT), [
    ...columns,
    now,
    now,
    now,
    now,
    now,
    now,
  ]);
  // Each written row's success by its place in the arrays (`ord`, from 1), in the group's order.
  const written = rows.map((r) => ({ at: n(r.ord) - 1, questionId: n(r.question_id) }));
  written.sort((a, b) => a.at - b.at);
  return written.map((w) => ({ o: successes[w.at], questionId: w.questionId }));
}
