/**
 * API key lifecycle (issue 16, item 10): `agentbatch keys list|revoke` on the database (the list
 * never shows a key), a revoked key refused at once, the previous AGENTBATCH_API_KEY revoked when
 * it changes, and weak or revoked env keys refused at start with a clear message.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { generateApiKey, hashApiKey } from "../../src/server/auth.js";
import { createLogger, startService } from "../../src/service.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const BIN = join(import.meta.dirname, "../../dist/cli/main.js");

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, AGENTBATCH_API_KEY: "" }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 99) : 0, stdout, stderr }),
    );
  });
}

describe("API keys", () => {
  let t: TestServer;
  let db: string;
  beforeAll(async () => {
    t = await startTestServer(() => {}, { worker: false });
    db = t.service.config.db;
  });
  afterAll(async () => t.close());

  /** Starts an API-only service on the test database with this AGENTBATCH_API_KEY. */
  async function startWithEnvKey(key: string) {
    const config = loadConfig({ port: 0, host: "127.0.0.1", db }, { AGENTBATCH_API_KEY: key });
    return startService(config, { api: true, worker: false, logger: createLogger("silent") });
  }

  it("lists keys by id and prefix without the key, and revokes one so it is refused at once", async () => {
    const key = await t.newWorkspaceKey("listed");
    const listed = await cli(["keys", "list", "--db", db, "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain(key);
    expect(listed.stdout).not.toContain(hashApiKey(key));
    const keys = JSON.parse(listed.stdout) as any[];
    const mine = keys.find((k) => k.workspaceName === "listed");
    expect(mine).toMatchObject({
      id: hashApiKey(key).slice(0, 16),
      prefix: key.slice(0, 7),
      revokedAt: null,
    });
    const table = await cli(["keys", "list", "--db", db]);
    expect(table.stdout).toContain(mine.id);
    expect(table.stdout).not.toContain(key);

    const revoked = await cli(["keys", "revoke", mine.id, "--db", db]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const res = await t.api("GET", "/api/v1/batches", undefined, key);
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe(10001);
    const after = JSON.parse((await cli(["keys", "list", "--db", db, "--json"])).stdout) as any[];
    expect(after.find((k) => k.id === mine.id).revokedAt).toEqual(expect.any(Number));
    const unknown = await cli(["keys", "revoke", "0000000000000000", "--db", db]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no key has the id/);
  });

  it("records when a key was last used", async () => {
    const key = await t.newWorkspaceKey("used");
    expect((await t.api("GET", "/api/v1/batches", undefined, key)).status).toBe(200);
    const id = hashApiKey(key).slice(0, 16);
    const used = async () =>
      (await t.service.store.workspaces.listKeys()).find((k) => k.id === id)?.lastUsedAt;
    const deadline = Date.now() + 10_000;
    while (!(await used()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(await used()).toEqual(expect.any(Number));
  });

  it("revokes the previous AGENTBATCH_API_KEY when it changes, and refuses it again at start", async () => {
    const first = generateApiKey();
    const second = generateApiKey();
    const a = await startWithEnvKey(first);
    await a.close(1000);
    const b = await startWithEnvKey(second);
    try {
      const call = (key: string) => fetch(`${b.url}/api/v1/batches`, { headers: { "x-api-key": key } });
      expect((await call(second)).status).toBe(200);
      expect((await call(first)).status).toBe(400);
    } finally {
      await b.close(1000);
    }
    await expect(startWithEnvKey(first)).rejects.toThrow(/AGENTBATCH_API_KEY was revoked/);
  });

  it("refuses a weak AGENTBATCH_API_KEY with a clear message", async () => {
    await expect(startWithEnvKey("secret")).rejects.toThrow(
      /AGENTBATCH_API_KEY is too short \(6 characters\): use at least 24/,
    );
  });
});
