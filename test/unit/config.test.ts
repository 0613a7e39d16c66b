import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ENGINE_THREAD_AUTO_CONCURRENCY, loadConfig } from "../../src/config/index.js";
import { engineInThread } from "../../src/threads/engine-host.js";

const dir = mkdtempSync(join(tmpdir(), "agentbatch-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(content: unknown): string {
  const path = join(dir, `${crypto.randomUUID()}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

describe("loadConfig", () => {
  it("names a misspelt or unknown key instead of ignoring it", () => {
    const misspelt = fileWith({ providers: { local: { type: "openai-compatible", baseUrl: "http://x" } } });
    expect(() => loadConfig({ configFile: misspelt }, {})).toThrow(
      /providers\.local\.baseUrl is not a known setting/,
    );
    expect(() => loadConfig({ configFile: fileWith({ engine: { concurency: 4 } }) }, {})).toThrow(
      /engine\.concurency is not a known setting/,
    );
    expect(() => loadConfig({ configFile: fileWith({ surprise: true }) }, {})).toThrow(
      /surprise is not a known setting/,
    );
  });

  it("refuses values of the wrong type or shape, naming the key", () => {
    expect(() => loadConfig({ configFile: fileWith({ engine: { concurrency: "many" } }) }, {})).toThrow(
      /engine\.concurrency must be integer/,
    );
    expect(() => loadConfig({ configFile: fileWith({ models: { m: "no-slash" } }) }, {})).toThrow(
      /models\.m must be "provider\/model"/,
    );
    expect(() => loadConfig({ configFile: fileWith({ providers: { p: { type: "magic" } } }) }, {})).toThrow(
      /providers\.p\.type/,
    );
    expect(() => loadConfig({}, { AGENTBATCH_CONCURRENCY: "lots" })).toThrow(
      /AGENTBATCH_CONCURRENCY must be a number/,
    );
    expect(() => loadConfig({ configFile: join(dir, "missing.json") }, {})).toThrow(/cannot read/);
  });

  it("layers defaults, the file, the environment and the flags", () => {
    const file = fileWith({
      providers: { local: { base_url: "http://127.0.0.1:11434/v1", rpm: 600 } },
      engine: { concurrency: 64, lease_ms: 30_000 },
      webhooks: { allow_http: true },
      models: { "gpt-4o-mini": "local/llama3" },
    });
    const c = loadConfig({ configFile: file, port: 9000 }, { AGENTBATCH_CONCURRENCY: "8", PORT: "7000" });
    expect(c.providers.local).toMatchObject({
      type: "openai-compatible",
      baseUrl: "http://127.0.0.1:11434/v1",
      rpm: 600,
    });
    expect(c.providers.simulated.type).toBe("simulated");
    expect(c.engine).toMatchObject({ concurrency: 8, leaseMs: 30_000, maxAttempts: 6 });
    expect(c.webhooks.allowHttp).toBe(true);
    expect(c.port).toBe(9000);
    expect(c.models).toEqual({ "gpt-4o-mini": "local/llama3" });
  });

  it("lets a set environment variable override the file either way, as documented", () => {
    const file = fileWith({
      public_url: "https://from-file.example",
      webhooks: { allow_private_targets: true, allow_http: true, dispatch: true },
      providers: { openai: { base_url: "http://proxy.internal/v1", api_key: "file-key" } },
      files: { backend: "s3", s3: { bucket: "b", access_key_id: "AKFILE", secret_access_key: "s" } },
    });
    const off = loadConfig(
      { configFile: file },
      {
        AGENTBATCH_WEBHOOK_ALLOW_PRIVATE: "0",
        AGENTBATCH_WEBHOOK_ALLOW_HTTP: "false",
        AGENTBATCH_WEBHOOK_DISPATCH: "0",
        AGENTBATCH_PUBLIC_URL: "https://from-env.example",
        OPENAI_API_KEY: "env-key",
        AWS_ACCESS_KEY_ID: "AKENV",
      },
    );
    expect(off.webhooks).toMatchObject({ allowPrivateTargets: false, allowHttp: false, dispatch: false });
    expect(off.publicUrl).toBe("https://from-env.example");
    expect(off.providers.openai).toMatchObject({ baseUrl: "http://proxy.internal/v1", apiKey: "env-key" });
    expect(off.files.s3).toMatchObject({ accessKeyId: undefined, secretAccessKey: undefined });
    // Unset (or empty) variables leave the file's values.
    const kept = loadConfig({ configFile: file }, { AGENTBATCH_WEBHOOK_ALLOW_PRIVATE: "" });
    expect(kept.webhooks).toMatchObject({ allowPrivateTargets: true, allowHttp: true, dispatch: true });
    expect(kept.publicUrl).toBe("https://from-file.example");
    expect(kept.providers.openai).toMatchObject({ apiKey: "file-key" });
    expect(kept.files.s3).toMatchObject({ accessKeyId: "AKFILE", secretAccessKey: "s" });
    // And on over a file's false or the default.
    const on = loadConfig(
      { configFile: fileWith({ webhooks: { allow_private_targets: false } }) },
      { AGENTBATCH_WEBHOOK_ALLOW_PRIVATE: "1", AGENTBATCH_WEBHOOK_ALLOW_HTTP: "true" },
    );
    expect(on.webhooks).toMatchObject({ allowPrivateTargets: true, allowHttp: true });
    expect(loadConfig({}, {}).webhooks).toMatchObject({ allowPrivateTargets: false, allowHttp: false });
  });

  it("refuses an on/off variable it cannot read, naming it", () => {
    expect(() => loadConfig({}, { AGENTBATCH_WEBHOOK_ALLOW_PRIVATE: "maybe" })).toThrow(
      /AGENTBATCH_WEBHOOK_ALLOW_PRIVATE must be 1 or 0/,
    );
  });

  it("switches the built-in simulated provider off, and reads the isolation settings", () => {
    const off = loadConfig({ configFile: fileWith({ simulated_provider: false }) }, {});
    expect(off.providers.simulated).toBeUndefined();
    expect(loadConfig({}, { AGENTBATCH_SIMULATED_PROVIDER: "0" }).providers.simulated).toBeUndefined();
    const file = fileWith({
      engine: { quarantine_after: 5, shutdown_grace_ms: 5000, workspace_share: 0.25 },
    });
    expect(loadConfig({ configFile: file }, {}).engine).toMatchObject({
      quarantineAfter: 5,
      shutdownGraceMs: 5000,
      workspaceShare: 0.25,
    });
    expect(loadConfig({}, {}).engine).toMatchObject({
      quarantineAfter: 5,
      shutdownGraceMs: 8000,
      cancelAbortsInFlight: false,
    });
    expect(loadConfig({}, { AGENTBATCH_CANCEL_ABORTS_IN_FLIGHT: "1" }).engine.cancelAbortsInFlight).toBe(
      true,
    );
    expect(() => loadConfig({ configFile: fileWith({ engine: { workspace_share: 2 } }) }, {})).toThrow(
      /workspace_share/,
    );
  });

  it("keeps the claim and commit group sizes unset unless the file sets them (the engine scales the defaults)", () => {
    const engine = loadConfig({}, {}).engine;
    expect(engine.claimBatchSize).toBeUndefined();
    expect(engine.commitBatchSize).toBeUndefined();
    const file = fileWith({ engine: { concurrency: 10_000, claim_batch_size: 50, commit_batch_size: 20 } });
    expect(loadConfig({ configFile: file }, {}).engine).toMatchObject({
      concurrency: 10_000,
      claimBatchSize: 50,
      commitBatchSize: 20,
    });
    for (const [key, value, message] of [
      ["claim_batch_size", 0, /engine\.claim_batch_size must be >= 1/],
      ["commit_batch_size", 0, /engine\.commit_batch_size must be >= 1/],
      ["claim_batch_size", 20_000, /engine\.claim_batch_size must be <= 10000/],
    ] as const) {
      expect(() => loadConfig({ configFile: fileWith({ engine: { [key]: value } }) }, {})).toThrow(message);
    }
  });

  it("runs the engine in a thread of its own when asked or by concurrency (engine.thread, AGENTBATCH_ENGINE_THREAD)", () => {
    expect(loadConfig({}, {}).engine.thread).toBe("auto");
    expect(loadConfig({}, { AGENTBATCH_ENGINE_THREAD: "1" }).engine.thread).toBe(true);
    const file = fileWith({ engine: { thread: true } });
    expect(loadConfig({ configFile: file }, {}).engine.thread).toBe(true);
    expect(loadConfig({ configFile: file }, { AGENTBATCH_ENGINE_THREAD: "0" }).engine.thread).toBe(false);
    expect(loadConfig({ configFile: file }, { AGENTBATCH_ENGINE_THREAD: "auto" }).engine.thread).toBe("auto");
    expect(loadConfig({ configFile: fileWith({ engine: { thread: "auto" } }) }, {}).engine.thread).toBe(
      "auto",
    );
    expect(() => loadConfig({ configFile: fileWith({ engine: { thread: "yes" } }) }, {})).toThrow(
      'engine.thread must be true, false or "auto"',
    );
    expect(() => loadConfig({}, { AGENTBATCH_ENGINE_THREAD: "maybe" })).toThrow(/1, 0 or auto/);
    // Only the flag words themselves: no inherited key of the lookup table.
    expect(() => loadConfig({}, { AGENTBATCH_ENGINE_THREAD: "constructor" })).toThrow(/1, 0 or auto/);
    expect(() => loadConfig({}, { AGENTBATCH_CANCEL_ABORTS_IN_FLIGHT: "__proto__" })).toThrow(/1 or 0/);

    const both = { api: true, worker: true };
    const sqlite = (thread: boolean | "auto", concurrency: number) => {
      const c = loadConfig({ db: "sqlite:/tmp/x/a.db" }, {});
      c.engine.thread = thread;
      c.engine.concurrency = concurrency;
      return c;
    };
    // "auto": on from ENGINE_THREAD_AUTO_CONCURRENCY calls at once, where the API waited behind the engine.
    expect(engineInThread(sqlite("auto", ENGINE_THREAD_AUTO_CONCURRENCY), both)).toBe(true);
    expect(engineInThread(sqlite("auto", ENGINE_THREAD_AUTO_CONCURRENCY - 1), both)).toBe(false);
    expect(engineInThread(sqlite(true, 8), both)).toBe(true);
    expect(engineInThread(sqlite(false, 10_000), both)).toBe(false);
    // Only one process doing both, on a SQLite file.
    expect(engineInThread(sqlite("auto", 10_000), { api: true, worker: false })).toBe(false);
    const pg = loadConfig({ db: "postgres://u@h/d" }, {});
    pg.engine.concurrency = 10_000;
    expect(engineInThread(pg, both)).toBe(false);
    const memory = loadConfig({ db: "sqlite::memory:" }, {});
    memory.engine.concurrency = 10_000;
    expect(engineInThread(memory, both)).toBe(false);
  });

  it("keeps file bytes in the database on PostgreSQL and on disk with SQLite", () => {
    expect(loadConfig({ db: "sqlite:/tmp/x/a.db" }, {}).files.backend).toBe("local");
    expect(loadConfig({ db: "sqlite:/tmp/x/a.db" }, {}).dataDir).toBe("/tmp/x");
    expect(loadConfig({ db: "postgres://u@h/d" }, {}).files.backend).toBe("db");
    expect(() => loadConfig({}, { AGENTBATCH_FILES_BACKEND: "s3" })).toThrow(/needs files\.s3\.bucket/);
    const s3 = loadConfig({}, { AGENTBATCH_FILES_BACKEND: "s3", AGENTBATCH_S3_BUCKET: "b" }).files;
    expect(s3).toEqual({
      backend: "s3",
      s3: {
        bucket: "b",
        prefix: "",
        endpoint: undefined,
        region: undefined,
        accessKeyId: undefined,
        secretAccessKey: undefined,
      },
    });
  });
});
