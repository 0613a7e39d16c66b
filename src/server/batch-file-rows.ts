/**
 * The rows of an uploaded batch input file (`file_id`) as the store's ingest reads them: parsed,
 * mapped to requests and checked one at a time, never the whole file in memory. A row that
 * fails a check becomes a row error (`{row, error}`), not a failed request.
 */
import {
  type ColumnMapping,
  detectInputFormat,
  type InputFormat,
  type InputRequest,
  invalidMappingKey,
  readInputRecords,
  toInputRequest,
} from "../files/batch-input.js";
import type {
  Agent,
  FileRecord,
  IngestEntry,
  IngestLookups,
  NewBatch,
  NewBatchItem,
  Workspace,
} from "../store/types.js";
import type { CreateBatchInput } from "./batch-service.js";
import type { AppContext } from "./context.js";
import { badRequest } from "./errors.js";
import { unpublishedAgentProblem } from "./published-agent.js";

/** Entries of the lookup caches an ingest keeps before clearing them (agents are few). */
const MAX_CACHED = 10_000;

/**
 * Checks the file and its mapping now (a 400 names what is wrong), records them on `batch`, and
 * returns the entries for the background ingest to read (ingest-runner.ts), in the arrays the
 * file is read in (`RECORD_BATCH` rows, never empty), from the row after `afterRow` (a resumed
 * ingest).
 */
export async function fileEntries(
  ctx: AppContext,
  ws: Workspace,
  input: Pick<CreateBatchInput, "file_id" | "column_mapping" | "input_format">,
  batch: Pick<NewBatch, "agentId" | "inputFileId" | "originalFileName" | "inputFormat">,
  afterRow = 0,
): Promise<(lookups: IngestLookups) => AsyncIterable<IngestEntry[]>> {
  const file = await inputFileOf(ctx, ws, input.file_id as string);
  const mapping = checkedMapping(input.column_mapping ?? {});
  const format = input.input_format ?? (await formatOf(ctx, file));
  batch.inputFileId = file.id;
  batch.originalFileName = file.originalName;
  batch.inputFormat = format;
  const whitelist = (await ctx.store.workspaces.get(ws.id))?.whitelistEnabled ?? false;
  const defaultAgentId = batch.agentId;

  return async function* (lookups: IngestLookups) {
    const rows = new RowChecker(lookups, ws.id, whitelist, defaultAgentId);
    for await (const records of readInputRecords(
      ctx.files.open(file.storagePath),
      format,
      ctx.config.maxRecordBytes,
    )) {
      const entries: IngestEntry[] = [];
      for (const rec of records) {
        // A resumed ingest reads on after the last row its batch has (parsing is all it costs).
        if (rec.row <= afterRow) continue;
        if ("error" in rec) {
          entries.push(rec);
          continue;
        }
        const req = toInputRequest(rec.record, mapping);
        // Most rows need no lookup (their agent, chat and user were seen): no await for those.
        const checked = "error" in req ? req.error : (rows.checkSeen(req) ?? (await rows.check(req)));
        entries.push(
          typeof checked === "string" ? { row: rec.row, error: checked } : { row: rec.row, item: checked },
        );
      }
      if (entries.length > 0) yield entries;
    }
  };
}

async function inputFileOf(ctx: AppContext, ws: Workspace, fileId: string): Promise<FileRecord> {
  const file = await ctx.store.files.get(ws.id, fileId);
  if (!file) throw badRequest(`file_id: file ${fileId} not found in this workspace`);
  if (file.purpose !== "batch_input") {
    throw badRequest(`file_id: file ${fileId} is not a batch input file (its purpose is ${file.purpose})`);
  }
  return file;
}

function checkedMapping(mapping: ColumnMapping): ColumnMapping {
  const badKey = invalidMappingKey(mapping);
  if (badKey !== null) {
    throw badRequest(
      `column_mapping.${badKey}: not a request field; map custom_id, message, agent_id, external_user_id, name, history_id, context.<key> or metadata.<key>`,
    );
  }
  return mapping;
}

/**
 * Checks each row's request against the workspace (a published agent, an existing chat, the
 * whitelist) with per-ingest caches, and turns it into an item.
 */
class RowChecker {
  private readonly agents = new Map<string, Agent | null>();
  private readonly chats = new Set<number>();
  private readonly users = new Set<string>();

  constructor(
    private readonly lookups: IngestLookups,
    private readonly workspaceId: string,
    private readonly whitelist: boolean,
    private readonly defaultAgentId: string,
  ) {}

  /**
   * `check` without a lookup: the row's item or problem when its agent, chat and user are all in
   * the caches already, else undefined (then `check` looks them up).
   */
  checkSeen(req: InputRequest): NewBatchItem | string | undefined {
    const id = req.agentId ?? this.defaultAgentId;
    const agent = this.agents.get(id);
    if (agent === undefined) return undefined;
    if (req.historyId !== null && !this.chats.has(req.historyId)) return undefined;
    const user = req.externalUserId;
    if (this.whitelist && user && !this.users.has(user)) return undefined;
    const usable = agentOrProblem(agent, id);
    if (typeof usable === "string") return usable;
    if (this.whitelist && !user) return USER_REQUIRED;
    return this.item(req, usable);
  }

  /** The row's item, or why the row is invalid. */
  async check(req: InputRequest): Promise<NewBatchItem | string> {
    const agent = await this.agent(req.agentId ?? this.defaultAgentId);
    if (typeof agent === "string") return agent;
    const problem =
      (await this.chatProblem(req.historyId)) ?? (await this.whitelistProblem(req.externalUserId));
    if (problem) return problem;
    return this.item(req, agent);
  }

  private item(req: InputRequest, agent: Agent): NewBatchItem {
    return {
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
    };
  }

  private async agent(id: string): Promise<Agent | string> {
    let agent = this.agents.get(id);
    if (agent === undefined) {
      agent = (await this.lookups.getAgent(this.workspaceId, id)) ?? null;
      this.agents.set(id, agent);
    }
    return agentOrProblem(agent, id);
  }

  private async chatProblem(historyId: number | null): Promise<string | null> {
    if (historyId === null || this.chats.has(historyId)) return null;
    if (!(await this.lookups.chatExists(this.workspaceId, historyId))) {
      return `history_id: chat ${historyId} not found in this workspace`;
    }
    if (this.chats.size > MAX_CACHED) this.chats.clear();
    this.chats.add(historyId);
    return null;
  }

  private async whitelistProblem(user: string | null): Promise<string | null> {
    if (!this.whitelist) return null;
    if (!user) return USER_REQUIRED;
    if (this.users.has(user)) return null;
    if (!(await this.lookups.isWhitelisted(this.workspaceId, user))) {
      return `external_user_id: "${user}" is not on this workspace's whitelist`;
    }
    if (this.users.size > MAX_CACHED) this.users.clear();
    this.users.add(user);
    return null;
  }
}

const USER_REQUIRED = "external_user_id is required: this workspace is in whitelist mode";

/** The agent a row may use, or why it may not (missing, or never published). */
function agentOrProblem(agent: Agent | null, id: string): Agent | string {
  const problem = unpublishedAgentProblem(agent, id);
  return problem ? `agent_id: ${problem}` : (agent as Agent);
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

/** The first 4 KB of a stored file, to tell its format. */
export async function readHead(ctx: AppContext, file: { storagePath: string }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.files.open(file.storagePath, { start: 0, end: 4095 }))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
