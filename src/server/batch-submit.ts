/**
 * Creating a batch, whichever way its requests arrive: inline (`requests`, at most 1000) or from
 * an uploaded input file (`file_id`, any number of rows, streamed). Both go through the store's
 * `ingestBatch`, which also makes the create idempotent: a repeated `Idempotency-Key`, or a
 * repeated client-chosen `id`, returns the batch the first create made.
 */
import { createHash } from "node:crypto";
import {
  type ColumnMapping,
  detectInputFormat,
  InputFileError,
  type InputFormat,
  invalidMappingKey,
  readInputRecords,
  toInputRequest,
} from "../files/batch-input.js";
import type {
  Agent,
  Batch,
  FileRecord,
  IngestEntry,
  IngestLookups,
  NewBatch,
  Workspace,
} from "../store/types.js";
import { type CreateBatchInput, prepareBatch } from "./batch-service.js";
import type { AppContext } from "./context.js";
import { badRequest, conflict } from "./errors.js";
import { unpublishedAgentProblem } from "./published-agent.js";

/** Row errors kept on the batch (`validation_errors`); `error_message` counts them all. */
export const MAX_REPORTED_ROW_ERRORS = 1000;

export interface SubmitResult {
  batch: Batch;
  /** True when an earlier create with the same Idempotency-Key or id made this batch. */
  replayed: boolean;
}

/** SHA-256 of the request body with its keys sorted, to tell a retry from a different request. */
export function requestHash(input: unknown): string {
  return createHash("sha256").update(stableJson(input)).digest("hex");
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

export async function submitBatch(
  ctx: AppContext,
  ws: Workspace,
  input: CreateBatchInput,
  options: { idempotencyKey?: string } = {},
  now = Date.now(),
): Promise<SubmitResult> {
  if (input.requests && input.file_id !== undefined) {
    throw badRequest("file_id: send either requests or file_id, not both");
  }
  if (!input.requests && input.file_id === undefined) {
    throw badRequest("requests is required (or file_id, the id of an uploaded batch input file)");
  }
  if (input.file_id === undefined) {
    for (const field of ["input_format", "column_mapping", "on_invalid_rows"] as const) {
      if (input[field] !== undefined) throw badRequest(`${field}: applies only to a batch made from file_id`);
    }
  }
  const hash = requestHash(input);
  if (input.id !== undefined) {
    // A repeated create with the same id: answer without re-reading its input.
    const existing = await ctx.store.getBatch(ws.id, input.id);
    if (existing) return replay(existing, existing.requestHash === hash, "id");
  }

  const { batch, items } = await prepareBatch(ctx, ws, input, now);
  batch.id = input.id ?? batch.id;
  batch.requestHash = hash;
  let entries: (lookups: IngestLookups) => AsyncIterable<IngestEntry>;
  if (input.file_id !== undefined) {
    entries = await fileEntries(ctx, ws, input, batch);
  } else {
    entries = async function* () {
      for (let i = 0; i < items.length; i++) yield { row: i + 1, item: items[i] };
    };
  }

  let result: Awaited<ReturnType<typeof ctx.store.ingestBatch>>;
  try {
    result = await ctx.store.ingestBatch(batch, entries, {
      onInvalidRows: input.on_invalid_rows ?? "fail",
      maxReportedErrors: MAX_REPORTED_ROW_ERRORS,
      idempotencyKey: options.idempotencyKey,
    });
  } catch (err) {
    if (err instanceof InputFileError) throw badRequest(`file_id: ${err.message}`);
    throw err;
  }
  switch (result.kind) {
    case "created":
      if (result.batch.status === "in_progress") ctx.signals.notifyWork();
      return { batch: result.batch, replayed: false };
    case "existing":
      return replay(result.batch, result.sameRequest, result.by);
    case "id_taken":
      // Batch ids are global; the message must not tell one workspace what ids another uses.
      throw conflict(`id: "${batch.id}" cannot be used; choose another id`);
    case "empty":
      throw badRequest(`file_id: file ${input.file_id} has no data rows`);
  }
}

function replay(batch: Batch, sameRequest: boolean, by: "id" | "idempotency_key"): SubmitResult {
  if (!sameRequest) {
    throw conflict(
      by === "id"
        ? `id: batch ${batch.id} already exists and was created by a different request`
        : `Idempotency-Key was already used for a different request (it created batch ${batch.id}); use a new key`,
    );
  }
  return { batch, replayed: true };
}

/** The rows of an uploaded file as ingest entries: parsed, mapped and checked one at a time. */
async function fileEntries(
  ctx: AppContext,
  ws: Workspace,
  input: CreateBatchInput,
  batch: NewBatch,
): Promise<(lookups: IngestLookups) => AsyncIterable<IngestEntry>> {
  const fileId = input.file_id as string;
  const file = await ctx.store.getFile(ws.id, fileId);
  if (!file) throw badRequest(`file_id: file ${fileId} not found in this workspace`);
  if (file.purpose !== "batch_input") {
    throw badRequest(`file_id: file ${fileId} is not a batch input file (its purpose is ${file.purpose})`);
  }
  const mapping: ColumnMapping = input.column_mapping ?? {};
  const badKey = invalidMappingKey(mapping);
  if (badKey !== null) {
    throw badRequest(
      `column_mapping.${badKey}: not a request field; map custom_id, message, agent_id, external_user_id, name, history_id, context.<key> or metadata.<key>`,
    );
  }
  const format = input.input_format ?? (await formatOf(ctx, file));
  batch.inputFileId = file.id;
  batch.originalFileName = file.originalName;
  batch.inputFormat = format;
  const whitelist = (await ctx.store.getWorkspace(ws.id))?.whitelistEnabled ?? false;
  const defaultAgentId = batch.agentId;

  return async function* (lookups: IngestLookups) {
    // Per-ingest caches: agents are few; chats and users are bounded by clearing when large.
    const agents = new Map<string, Agent | null>();
    const chats = new Set<number>();
    const users = new Set<string>();
    const agentProblem = async (id: string): Promise<Agent | string> => {
      let agent = agents.get(id);
      if (agent === undefined) {
        agent = (await lookups.getAgent(ws.id, id)) ?? null;
        agents.set(id, agent);
      }
      const problem = unpublishedAgentProblem(agent, id);
      return problem ? `agent_id: ${problem}` : (agent as Agent);
    };
    for await (const rec of readInputRecords(ctx.files.open(file.storagePath), format)) {
      if ("error" in rec) {
        yield rec;
        continue;
      }
      const req = toInputRequest(rec.record, mapping);
      if ("error" in req) {
        yield { row: rec.row, error: req.error };
        continue;
      }
      const agent = await agentProblem(req.agentId ?? defaultAgentId);
      if (typeof agent === "string") {
        yield { row: rec.row, error: agent };
        continue;
      }
      if (req.historyId !== null && !chats.has(req.historyId)) {
        if (!(await lookups.chatExists(ws.id, req.historyId))) {
          yield { row: rec.row, error: `history_id: chat ${req.historyId} not found in this workspace` };
          continue;
        }
        if (chats.size > 10_000) chats.clear();
        chats.add(req.historyId);
      }
      if (whitelist) {
        const user = req.externalUserId;
        if (!user) {
          yield { row: rec.row, error: "external_user_id is required: this workspace is in whitelist mode" };
          continue;
        }
        if (!users.has(user)) {
          if (!(await lookups.isWhitelisted(ws.id, user))) {
            yield { row: rec.row, error: `external_user_id: "${user}" is not on this workspace's whitelist` };
            continue;
          }
          if (users.size > 10_000) users.clear();
          users.add(user);
        }
      }
      yield {
        row: rec.row,
        item: {
          customId: req.customId,
          agentId: agent.id,
          agentVersion: agent.publishedVersion as number,
          message: req.message,
          externalUserId: req.externalUserId,
          name: req.name,
          attachedFileUuids: [],
          historyId: req.historyId,
          context: req.context,
          metadata: req.metadata,
        },
      };
    }
  };
}

/** The format recorded at upload, else what the name and first bytes say. */
async function formatOf(ctx: AppContext, file: FileRecord): Promise<InputFormat> {
  const recorded = file.meta?.format;
  if (recorded === "csv" || recorded === "json" || recorded === "jsonl") return recorded;
  const head = await readHead(ctx, file);
  const detected = detectInputFormat(file.originalName, file.contentType, head);
  if (!detected)
    throw badRequest("input_format: cannot tell the file's format; send input_format (csv, json or jsonl)");
  return detected;
}

export async function readHead(ctx: AppContext, file: { storagePath: string }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.files.open(file.storagePath, { start: 0, end: 4095 }))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
