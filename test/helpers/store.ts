import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import type { FileRecord } from "../../src/store/files.js";
import { isPostgresUrl, openStore, type Store } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import type { NewBatch, NewBatchItem } from "../../src/store/types.js";
import { testDbUrl, testStore } from "./server.js";

export interface TestStore {
  store: Store;
  close: () => Promise<void>;
}

/** A fresh store of the suite's dialect (TEST_STORE): SQLite in a temp dir or a fresh PostgreSQL schema. */
export async function openTestStore(): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-store-"));
  const url = testDbUrl(dir);
  const store = await openStore(url);
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      if (isPostgresUrl(url)) await dropSchema(url);
    },
  };
}

export { testStore };

/**
 * A fresh store (`openTestStore`) for each test of the calling file, handed to `use` before the
 * test and closed after it: `let store: Store; useTestStore((s) => (store = s));`.
 */
export function useTestStore(use: (store: Store) => void): void {
  let current: TestStore | undefined;
  beforeEach(async () => {
    current = await openTestStore();
    use(current.store);
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
}

/** A workspace and a published agent to hang batches on; returns their ids. */
export async function seedWorkspace(
  store: Store,
  name = "ws",
): Promise<{ workspaceId: string; agentId: string }> {
  const ws = await store.workspaces.ensure(name);
  const agentId = `agent-${name}-${crypto.randomUUID().slice(0, 8)}`;
  await store.agents.create(
    {
      id: agentId,
      workspaceId: ws.id,
      name: "agent",
      description: null,
      model: "simulated/echo",
      systemPrompt: null,
      temperature: null,
      maxTokens: null,
      settings: {},
    },
    1,
  );
  await store.agents.publish(ws.id, agentId, 2);
  return { workspaceId: ws.id, agentId };
}

export function newBatch(workspaceId: string, agentId: string, extra: Partial<NewBatch> = {}): NewBatch {
  return {
    id: crypto.randomUUID(),
    workspaceId,
    agentId,
    name: null,
    webhook: null,
    metadata: null,
    createdAt: Date.now(),
    expiresAt: Date.now() + 3_600_000,
    ...extra,
  };
}

export function item(agentId: string, customId: string, extra: Partial<NewBatchItem> = {}): NewBatchItem {
  return {
    customId,
    agentId,
    agentVersion: 1,
    message: `message ${customId}`,
    externalUserId: null,
    name: null,
    attachedFileUuids: [],
    historyId: null,
    ...extra,
  };
}

/** Creates an in_progress batch of `count` items through the ingest path; returns it. */
export async function createBatch(
  store: Store,
  workspaceId: string,
  agentId: string,
  count: number,
  extra: Partial<NewBatch> = {},
) {
  const b = newBatch(workspaceId, agentId, extra);
  const result = await store.batches.ingest(
    b,
    async function* () {
      for (let i = 0; i < count; i++) yield { row: i + 1, item: item(agentId, `c${i}`) };
    },
    { onInvalidRows: "fail", maxReportedErrors: 10 },
  );
  if (result.kind !== "created") throw new Error(`ingest: ${result.kind}`);
  return result.batch;
}

/** A persistent attachment record of `id` (3 bytes of text/plain at `files/<id>`), created at `createdAt`. */
export function fileRecord(id: string, workspaceId: string, createdAt = Date.now()): FileRecord {
  return {
    id,
    workspaceId,
    purpose: "attachment",
    scope: "persistent",
    originalName: `${id}.txt`,
    contentType: "text/plain",
    size: 3,
    storagePath: `files/${id}`,
    meta: null,
    createdAt,
  };
}
