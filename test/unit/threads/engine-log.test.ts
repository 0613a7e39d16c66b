/** The engine thread's log lines in the API thread's logger: pino's stream, or any logger's methods. */
import type { Logger } from "pino";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { writeEngineLog } from "../../../src/threads/engine-host.js";

describe("writeEngineLog", () => {
  it("writes the line as it is into a pino logger's stream", () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (l: string) => lines.push(l) });
    writeEngineLog(logger.child({ a: 1 }), '{"level":50,"msg":"x"}\n');
    expect(lines).toEqual(['{"level":50,"msg":"x"}\n']);
  });

  it("logs the line's fields at its level on a logger without pino's stream", () => {
    const calls: [string, unknown, unknown][] = [];
    const method = (name: string) =>
      function (this: unknown, obj: unknown, msg: unknown) {
        calls.push([name, obj, msg]);
      };
    const logger = {
      levels: { labels: { 30: "info", 50: "error" } },
      info: method("info"),
      error: method("error"),
    } as unknown as Logger;
    writeEngineLog(logger, '{"level":50,"time":1,"pid":2,"hostname":"h","thread":"engine","msg":"boom"}\n');
    writeEngineLog(logger, "not json\n");
    expect(calls).toEqual([
      ["error", { thread: "engine" }, "boom"],
      ["info", { engine: "not json" }, "engine thread"],
    ]);
  });
});
