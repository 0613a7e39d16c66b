/**
 * Seed 000's own client examples (Python with requests, JavaScript with fetch), run unchanged
 * against agentbatch: a Codeer client must work by changing its base URL. A missing python3 or
 * `requests` fails the test (CI installs both); it is never skipped.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, type ExpectStatic, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer } from "../helpers/server.js";

const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
const examples = resolve(repoRoot, "..", "shared", "examples");

/** Runs a command to its end, with a deadline; resolves with its exit code and output. */
function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`${command} ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      fail(new Error(`cannot run ${command}: ${err.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

describe("seed 000's client examples", () => {
  let t: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestServer();
    env = { SEED_BASE_URL: `${t.url}/api/v1`, SEED_API_KEY: t.key, SEED_AGENT_ID: await publishedAgent(t) };
  });
  afterAll(async () => t.close());

  // Each example waits 5 s between polls by itself: the two run side by side.
  const expectAllSucceeded = (
    expect: ExpectStatic,
    out: { code: number | null; stdout: string; stderr: string },
  ) => {
    expect(out.code, `exit code; stderr:\n${out.stderr}\nstdout:\n${out.stdout}`).toBe(0);
    expect(out.stdout).toMatch(/^Created batch: [0-9a-f-]{36}$/m);
    expect(out.stdout).toMatch(/^Batch status: completed$/m);
    for (let i = 0; i < 10; i++) expect(out.stdout).toMatch(new RegExp(`^req-${i}: success$`, "m"));
    expect(out.stdout).toMatch(/^ {2}Response: Echo: Question 0\.\.\.$/m);
  };

  it.concurrent("runs the Python example (python3 + requests) to the end", async ({ expect }) => {
    expectAllSucceeded(expect, await run("python3", [resolve(examples, "seed_example.py")], env, 30_000));
  });

  it.concurrent("runs the JavaScript example (node + fetch) to the end", async ({ expect }) => {
    expectAllSucceeded(
      expect,
      await run(process.execPath, [resolve(examples, "seed_example.mjs")], env, 30_000),
    );
  });
});
