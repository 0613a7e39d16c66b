/**
 * Runs the built CLI (`dist/cli/main.js`) as child processes for the multi-process tests:
 * API nodes, workers and the mock upstream, each in its own process group so that a SIGKILL
 * takes the whole process down at once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateApiKey } from "../../src/server/auth.js";
import { waitFor } from "./server.js";

export const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
export const mainJs = join(repoRoot, "dist", "cli", "main.js");

export interface CliProcess {
  child: ChildProcess;
  /** Everything it wrote, for the failure message. */
  output: string[];
  exited: Promise<number | null>;
  /** Resolves once its stdout and stderr are closed too (`exit` may come before their last chunk). */
  closed: Promise<void>;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      if (address === null || typeof address === "string") return reject(new Error("no port"));
      srv.close(() => resolvePort(address.port));
    });
  });
}

/** Starts `node dist/cli/main.js ARGS` with extra environment variables. */
export function startCli(args: string[], env: Record<string, string> = {}, cwd = repoRoot): CliProcess {
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build`);
  const child = spawn(process.execPath, [mainJs, ...args], {
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, AGENTBATCH_LOG_LEVEL: "warn", ...env },
  });
  const output: string[] = [];
  const keep = (d: unknown) => {
    output.push(String(d));
    if (output.length > 200) output.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const closed = new Promise<void>((r) => child.on("close", () => r()));
  return { child, output, exited, closed };
}

export function isRunning(p: CliProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** SIGKILLs the process group and waits for the exit. */
export async function killHard(p: CliProcess): Promise<void> {
  if (!isRunning(p)) return;
  try {
    process.kill(-(p.child.pid as number), "SIGKILL");
  } catch {
    /* already gone */
  }
  await p.exited;
}

/** Waits until `url` answers 2xx (the process exiting first fails at once). */
export async function waitForHttp(p: CliProcess, url: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      if (!isRunning(p)) throw new Error(`process exited (${p.child.exitCode}): ${p.output.join("")}`);
      try {
        return (await fetch(url)).ok;
      } catch {
        return false;
      }
    },
    { timeoutMs, what: `${url} to answer` },
  );
}

/** Starts `agentbatch mock-llm` on a free port and waits until it answers. */
export async function startMockProcess(
  options: {
    latencyMs?: number;
    latencyJitterMs?: number;
    errorRate?: number;
    rpm?: number;
    log?: string;
  } = {},
): Promise<{ proc: CliProcess; url: string; port: number }> {
  const port = await freePort();
  const args = ["mock-llm", "--port", String(port), "--latency-ms", String(options.latencyMs ?? 0)];
  if (options.latencyJitterMs !== undefined)
    args.push("--latency-jitter-ms", String(options.latencyJitterMs));
  if (options.errorRate !== undefined) args.push("--error-rate", String(options.errorRate));
  if (options.rpm !== undefined) args.push("--rpm", String(options.rpm));
  if (options.log) args.push("--log", options.log);
  const proc = startCli(args);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(proc, `${url}/_mock/stats`);
  return { proc, url, port };
}

/** Calls the API of a spawned server with a key; a status of 300 or more throws. */
export async function callApi(base: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { "x-api-key": key, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json: any = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** The built server a multi-process test kills and restarts: every start serves `db` on one port. */
export interface RestartableServer {
  base: string;
  key: string;
  /** Starts a server process (SIGKILLed by `killAll`) and waits until it answers /healthz. */
  start(): Promise<CliProcess>;
  /** The API of whichever server process is up, with the key. */
  api(method: string, path: string, body?: unknown): Promise<any>;
  /** SIGKILLs every process `start` started. */
  killAll(): Promise<void>;
}

/**
 * `agentbatch serve` on `db` from `dir` (its working and data directory), on a free port, with
 * a fresh API key and `env` added; `args` go after the usual ones (`--config FILE`).
 */
export async function restartableServer(options: {
  db: string;
  dir: string;
  env?: Record<string, string>;
  args?: string[];
}): Promise<RestartableServer> {
  const key = generateApiKey();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started: CliProcess[] = [];
  const args = ["serve", "--port", String(port), "--host", "127.0.0.1", "--db", options.db];
  return {
    base,
    key,
    start: async () => {
      const server = startCli(
        [...args, ...(options.args ?? [])],
        { AGENTBATCH_API_KEY: key, ...options.env },
        options.dir,
      );
      started.push(server);
      await waitForHttp(server, `${base}/healthz`, 30_000);
      return server;
    },
    api: (method, path, body) => callApi(base, key, method, path, body),
    killAll: async () => {
      for (const p of started) await killHard(p);
    },
  };
}

/** Writes `dir/config.json` naming a mock-llm process at `mockUrl` as provider `mock`; returns its path. */
export function writeMockConfig(dir: string, mockUrl: string): string {
  const file = join(dir, "config.json");
  const providers = { mock: { type: "openai-compatible", base_url: `${mockUrl}/v1`, api_key: "test" } };
  writeFileSync(file, JSON.stringify({ providers }));
  return file;
}
