import { describe, expect, it } from "vitest";
import { parseSimulatorSettings, SimulatedProvider } from "../../src/providers/simulated.js";
import { simulateReply } from "../../src/providers/simulator.js";
import { splitForStreaming } from "../../src/providers/stream-chunks.js";
import { countTokens } from "../../src/providers/text.js";
import type { ChatMessage, ModelRequest } from "../../src/providers/types.js";

const never = new AbortController().signal;

function request(model: string, text = "hello", options?: Record<string, unknown>): ModelRequest {
  return { model, messages: [{ role: "user", content: text }], options };
}

describe("countTokens", () => {
  it("counts about four characters per token, at least one for any text", () => {
    expect(countTokens("")).toBe(0);
    expect(countTokens("a")).toBe(1);
    expect(countTokens("abcd")).toBe(1);
    expect(countTokens("abcde")).toBe(2);
    expect(countTokens("x".repeat(400))).toBe(100);
  });
});

describe("simulateReply", () => {
  it("is deterministic and echoes the last user message verbatim", () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "be brief" },
      { role: "user", content: "What is 2+2?" },
    ];
    const first = simulateReply(messages);
    expect(simulateReply(messages)).toEqual(first);
    expect(first.text).toBe("Echo: What is 2+2?");
    expect(first.completionTokens).toBe(countTokens(first.text));
    expect(first.promptTokens).toBeGreaterThan(countTokens("be brief") + countTokens("What is 2+2?"));
  });

  it("includes every text part, marks images, and counts earlier turns", () => {
    const reply = simulateReply([
      { role: "system", content: "sys" },
      { role: "user", content: "first question" },
      { role: "assistant", content: "first answer" },
      {
        role: "user",
        content: [
          { type: "text", text: "summarise the file" },
          { type: "text", text: "FILE: quarterly numbers" },
          { type: "image", mediaType: "image/png", dataBase64: "iVBORw0KGgo=" },
        ],
      },
    ]);
    expect(reply.text).toContain("summarise the file");
    expect(reply.text).toContain("FILE: quarterly numbers");
    expect(reply.text).toContain("[image]");
    expect(reply.text).not.toContain("iVBORw0KGgo=");
    expect(reply.text).toContain("(context: 2 earlier messages)");
  });

  it("answers even without a user message", () => {
    expect(simulateReply([{ role: "system", content: "x" }]).text).toBe("Echo: (no user message)");
  });
});

describe("splitForStreaming", () => {
  it("cuts text into several chunks that join back to it", () => {
    for (const text of ["Echo: hi", "Echo: the quick brown fox jumps over the lazy dog", "y".repeat(5000)]) {
      const chunks = splitForStreaming(text);
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.length).toBeLessThanOrEqual(17);
      expect(chunks.join("")).toBe(text);
    }
    expect(splitForStreaming("")).toEqual([]);
  });

  it("never splits a surrogate pair", () => {
    const text = "😀".repeat(40);
    for (const chunk of splitForStreaming(text)) expect(chunk.length % 2).toBe(0);
  });
});

describe("parseSimulatorSettings", () => {
  it("reads the model's query string", () => {
    expect(parseSimulatorSettings("echo?latency_ms=50&error_rate=0.1&fail_status=503&seed=7")).toEqual({
      model: "echo",
      latencyMs: 50,
      errorRate: 0.1,
      failStatus: 503,
      seed: 7,
    });
  });

  it("lets the agent's options override the model name and ignores non-numbers", () => {
    const settings = parseSimulatorSettings("echo?latency_ms=50", { latency_ms: 0, error_rate: "x" });
    expect(settings).toEqual({ model: "echo", latencyMs: 0, errorRate: 0, failStatus: 500 });
  });

  it("reads fail-NNN models", () => {
    expect(parseSimulatorSettings("fail-400")).toMatchObject({ errorRate: 1, failStatus: 400 });
    expect(parseSimulatorSettings("fail-x")).toMatchObject({ errorRate: 0 });
  });
});

describe("SimulatedProvider", () => {
  const provider = new SimulatedProvider("simulated");

  it("answers with the echo and its usage", async () => {
    const outcome = await provider.complete(request("echo?latency_ms=0", "ping"), never);
    const expected = simulateReply([{ role: "user", content: "ping" }]);
    expect(outcome).toEqual({
      kind: "success",
      text: "Echo: ping",
      usage: { promptTokens: expected.promptTokens, completionTokens: expected.completionTokens },
      model: "echo",
      finishReason: "stop",
    });
  });

  it("fails fail-400 at once with code 400", async () => {
    expect(await provider.complete(request("fail-400"), never)).toMatchObject({ kind: "failed", code: 400 });
    expect(
      await provider.complete(request("echo", "x", { error_rate: 1, fail_status: 400 }), never),
    ).toMatchObject({ kind: "failed", code: 400 });
  });

  it("maps injected 5xx and 429 to retryable outcomes", async () => {
    expect(await provider.complete(request("echo?error_rate=1"), never)).toMatchObject({
      kind: "retryable",
      code: 502,
      rateLimited: false,
    });
    expect(await provider.complete(request("echo?error_rate=1&fail_status=429"), never)).toMatchObject({
      kind: "retryable",
      code: 429,
      rateLimited: true,
    });
  });

  it("repeats the same failures for the same seed", async () => {
    const run = async () => {
      const seeded = new SimulatedProvider("s");
      const kinds: string[] = [];
      for (let i = 0; i < 50; i++) {
        kinds.push((await seeded.complete(request("echo?error_rate=0.5&seed=42"), never)).kind);
      }
      return kinds;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first).toContain("success");
    expect(first).toContain("retryable");
  });

  it("streams several deltas that join to the text, with and without latency", async () => {
    for (const model of ["echo", "echo?latency_ms=20"]) {
      const deltas: string[] = [];
      const outcome = await provider.complete(
        request(model, "tell me a long story about streams"),
        never,
        (d) => {
          deltas.push(d);
        },
      );
      expect(outcome.kind).toBe("success");
      expect(deltas.length).toBeGreaterThan(1);
      if (outcome.kind === "success") expect(deltas.join("")).toBe(outcome.text);
    }
  });

  it("gives up on abort during the latency", async () => {
    const controller = new AbortController();
    const pending = provider.complete(request("echo?latency_ms=60000"), controller.signal);
    controller.abort();
    expect(await pending).toEqual({ kind: "retryable", code: 504, message: "aborted", rateLimited: false });
  });

  it("returns an already settled promise on the zero-latency path", async () => {
    const outcome = provider.complete(request("echo"), never);
    let settled = false;
    void outcome.then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(true);
  });
});
