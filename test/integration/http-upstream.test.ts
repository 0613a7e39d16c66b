import { getEventListeners, setMaxListeners } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpUpstream, type UpstreamResponse } from "../../src/providers/http-upstream.js";
import { waitFor } from "../helpers/wait.js";

/**
 * An upstream that answers /slow with a body that never ends, one small chunk every 20 ms (so
 * undici's headers and body timeouts, which bound only the gaps, never fire), and /fast at once.
 */
let server: Server;
let origin: string;
const streams = new Set<NodeJS.Timeout>();
/** Called each time the server starts streaming a /slow body. */
const slowStarted = new Set<() => void>();

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/fast") {
        res.end("done");
        return;
      }
      if (req.url === "/bom") {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(Buffer.from([0xef, 0xbb]));
        res.end(Buffer.concat([Buffer.from([0xbf]), Buffer.from('{"answer": "\u00e9"}')]));
        return;
      }
      if (req.url === "/json") {
        res.writeHead(429, { "content-type": "application/json", "x-ratelimit-remaining-requests": "7" });
        res.write('{"error":');
        res.end(' {"message": "slow down, \u00e9"}}');
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const started of slowStarted) started();
      const tick = setInterval(() => res.write("data: x\n\n"), 20);
      streams.add(tick);
      res.on("close", () => {
        clearInterval(tick);
        streams.delete(tick);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const tick of streams) clearInterval(tick);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Reads the whole body, counting its chunks. */
async function drain(response: { body: AsyncIterable<Buffer> }): Promise<{ chunks: number }> {
  let chunks = 0;
  for await (const _ of response.body) chunks++;
  return { chunks };
}

describe("HttpUpstream's total timeout and the caller's abort", () => {
  it("times out a response that streams past the total timeout as retryable 504", async () => {
    const upstream = new HttpUpstream(origin, 300);
    const caller = new AbortController();
    let chunksSeen = 0;
    try {
      const outcome = await upstream.post("/slow", {}, {}, caller.signal, async (response) => {
        for await (const _ of response.body) chunksSeen++;
        return { kind: "success" as const };
      });
      expect(outcome).toEqual({
        kind: "retryable",
        code: 504,
        message: "upstream timed out after 300 ms",
        rateLimited: false,
      });
      // The body did stream: the gaps were short, only the total was too long.
      expect(chunksSeen).toBeGreaterThan(1);
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  });

  it("gives up mid-stream when the caller aborts, and leaves no listener on its signal", async () => {
    const upstream = new HttpUpstream(origin, 60_000);
    const caller = new AbortController();
    try {
      const outcome = await upstream.post("/slow", {}, {}, caller.signal, async (response) => {
        let chunks = 0;
        for await (const _ of response.body) if (++chunks === 3) caller.abort();
        return { kind: "success" as const };
      });
      expect(outcome).toEqual({ kind: "retryable", code: 504, message: "aborted", rateLimited: false });
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  });

  it("removes its listener from a signal shared by calls that end normally, and times out none of them", async () => {
    const upstream = new HttpUpstream(origin, 300);
    const shared = new AbortController();
    setMaxListeners(50, shared.signal);
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, () => upstream.post("/fast", {}, {}, shared.signal, drain)),
      );
      for (const outcome of outcomes) expect(outcome).toEqual({ chunks: 1 });
      expect(getEventListeners(shared.signal, "abort")).toHaveLength(0);
      // A slow call after them still times out: the deadline timer is set again for it.
      const slow = await upstream.post("/slow", {}, {}, shared.signal, drain);
      expect(slow).toMatchObject({ kind: "retryable", code: 504 });
      expect(shared.signal.aborted).toBe(false);
    } finally {
      await upstream.close();
    }
  });

  it("times out each of several overlapping slow calls, and none of the fast ones among them", async () => {
    const upstream = new HttpUpstream(origin, 300);
    const caller = new AbortController();
    try {
      const calls = Array.from({ length: 6 }, (_, i) =>
        upstream.post(i % 2 === 0 ? "/slow" : "/fast", {}, {}, caller.signal, drain),
      );
      const outcomes = await Promise.all(calls);
      outcomes.forEach((outcome, i) => {
        if (i % 2 === 0) expect(outcome).toMatchObject({ kind: "retryable", code: 504 });
        else expect(outcome).toEqual({ chunks: 1 });
      });
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  });
});

describe("HttpUpstream's connections, split over several pools", () => {
  it("keeps as many calls open as its limit, queues one past it, and has them all again once they end", async () => {
    // 130 connections: three pools (44, 43, 43), the calls handed to pools with one to spare.
    const upstream = new HttpUpstream(origin, 60_000, 130);
    let started = 0;
    const onStart = () => started++;
    slowStarted.add(onStart);
    const callers: AbortController[] = [];
    const open = (n: number) =>
      Array.from({ length: n }, () => {
        const caller = new AbortController();
        callers.push(caller);
        const outcome = upstream.post("/slow", {}, {}, caller.signal, async (r) => drain(r));
        return { caller, outcome };
      });
    try {
      // Every connection busy at once: no call waits in a full pool while another has one free.
      const first = open(131);
      await waitFor(() => started === 130, { what: "130 calls streaming" });
      expect(started).toBe(130);
      // The 131st waited for a connection; it gets one when the others end.
      for (const c of first.slice(0, 130)) c.caller.abort();
      await waitFor(() => started === 131, { what: "the queued call streaming" });
      first[130].caller.abort();
      for (const c of first)
        expect(await c.outcome).toEqual({
          kind: "retryable",
          code: 504,
          message: "aborted",
          rateLimited: false,
        });
      // Each pool counted its calls back: all 130 connections are free for the next 130.
      const second = open(130);
      await waitFor(() => started === 261, { what: "130 more calls streaming" });
      for (const c of second) c.caller.abort();
      await Promise.all(second.map((c) => c.outcome));
    } finally {
      slowStarted.delete(onStart);
      // A failed wait leaves streams open: ended here, so close() does not wait for them.
      for (const caller of callers) caller.abort();
      await upstream.close();
    }
  });

  it("sends a call started on an answer's turn to the pool whose connection that answer freed", async () => {
    // 130 connections: pools of 44, 43 and 43, filled in that order.
    const upstream = new HttpUpstream(origin, 60_000, 130);
    let started = 0;
    const onStart = () => started++;
    slowStarted.add(onStart);
    const caller = new AbortController();
    setMaxListeners(200, caller.signal);
    try {
      // Every connection but one streams for good: the last pool has one free.
      const slow = Array.from({ length: 129 }, () =>
        upstream.post("/slow", {}, {}, caller.signal, async (r) => drain(r)),
      );
      await waitFor(() => started === 129, { what: "129 calls streaming" });
      // That pool's last connection answers at once; on its answer's turn the next call starts.
      // Counted in flight until its own call returned, every pool would look full, and the next
      // call would wait behind streams in the least busy one.
      let next: Promise<unknown> | undefined;
      const first = await upstream.post(
        "/fast",
        {},
        {},
        caller.signal,
        (r) => r.body.text(),
        false,
        () => {
          next = upstream.post("/fast", {}, {}, caller.signal, (r) => r.body.text(), false);
        },
      );
      expect(first).toBe("done");
      // A deadline to fail on, not a wait: the call answers at once when it has a connection.
      const stuck = new Promise((resolve) =>
        setTimeout(() => resolve("no connection in 10 s"), 10_000).unref(),
      );
      expect(await Promise.race([next, stuck])).toBe("done");
      caller.abort();
      await Promise.all(slow);
    } finally {
      slowStarted.delete(onStart);
      caller.abort();
      await upstream.close();
    }
  });
});

describe("HttpUpstream, body read whole (streamed = false)", () => {
  it("hands read the status, headers and the whole body, and leaves no listener on the caller's signal", async () => {
    const upstream = new HttpUpstream(origin, 5000);
    const caller = new AbortController();
    setMaxListeners(50, caller.signal);
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, () =>
          upstream.post(
            "/json",
            {},
            {},
            caller.signal,
            async (response) => ({
              status: response.statusCode,
              remaining: response.headers["x-ratelimit-remaining-requests"],
              text: await response.body.text(),
            }),
            false,
          ),
        ),
      );
      for (const outcome of outcomes) {
        expect(outcome).toEqual({
          status: 429,
          remaining: "7",
          text: '{"error": {"message": "slow down, é"}}',
        });
      }
      const fast = await upstream.post("/fast", {}, {}, caller.signal, drain, false);
      expect(fast).toEqual({ chunks: 1 });
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  });

  it("drops a leading UTF-8 BOM from a whole body as from a streamed one (JSON.parse refuses it)", async () => {
    const upstream = new HttpUpstream(origin, 30_000);
    const caller = new AbortController();
    try {
      const read = async (r: UpstreamResponse) => JSON.parse(await r.body.text());
      expect(await upstream.post("/bom", {}, {}, caller.signal, read, false)).toEqual({ answer: "é" });
      expect(await upstream.post("/bom", {}, {}, caller.signal, read, true)).toEqual({ answer: "é" });
    } finally {
      await upstream.close();
    }
  });

  it("hands every answer of a burst larger than one turn's share to its caller", async () => {
    const upstream = new HttpUpstream(origin, 30_000, 600);
    const caller = new AbortController();
    setMaxListeners(700, caller.signal);
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 600 }, (_, i) =>
          upstream.post("/fast", {}, {}, caller.signal, async (r) => `${i}:${await r.body.text()}`, false),
        ),
      );
      expect(outcomes).toEqual(Array.from({ length: 600 }, (_, i) => `${i}:done`));
    } finally {
      await upstream.close();
    }
  });

  it("tells the caller a 2xx answer arrived before any answer of that turn is read; not a 429", async () => {
    const upstream = new HttpUpstream(origin, 30_000, 64);
    const caller = new AbortController();
    setMaxListeners(100, caller.signal);
    const events: string[] = [];
    try {
      // A burst, so that several answers share the pacer's turn: every arrival of the turn is
      // reported before the first of them is read.
      await Promise.all(
        Array.from({ length: 32 }, (_, i) =>
          upstream.post(
            "/fast",
            {},
            {},
            caller.signal,
            async (r) => {
              events.push(`read ${i}`);
              return r.body.text();
            },
            false,
            () => events.push(`answered ${i}`),
          ),
        ),
      );
      expect(events.filter((e) => e.startsWith("answered"))).toHaveLength(32);
      for (let i = 0; i < 32; i++) {
        expect(events.indexOf(`answered ${i}`)).toBeLessThan(events.indexOf(`read ${i}`));
      }
      // Within a turn, arrivals come first: the first read follows at least one arrival it did not cause.
      expect(events.indexOf("read 0")).toBeGreaterThan(events.indexOf("answered 0"));
      const refused: string[] = [];
      const status = await upstream.post(
        "/json",
        {},
        {},
        caller.signal,
        (r) => r.statusCode,
        false,
        () => refused.push("answered"),
      );
      expect(status).toBe(429);
      expect(refused).toEqual([]);
      // A 2xx answer whose headers say the provider's window is spent frees nothing early either.
      const seen: string[] = [];
      await upstream.post(
        "/fast",
        {},
        {},
        caller.signal,
        (r) => r.body.text(),
        false,
        () => seen.push("answered"),
        (headers) => {
          seen.push(`spent? ${typeof headers}`);
          return true;
        },
      );
      expect(seen).toContain("spent? object");
      expect(seen).not.toContain("answered");
    } finally {
      await upstream.close();
    }
  });

  it("times out a body that streams past the total timeout as retryable 504", async () => {
    const upstream = new HttpUpstream(origin, 300);
    const caller = new AbortController();
    let reads = 0;
    try {
      const outcome = await upstream.post(
        "/slow",
        {},
        {},
        caller.signal,
        () => {
          reads++;
          return { kind: "success" as const };
        },
        false,
      );
      expect(outcome).toEqual({
        kind: "retryable",
        code: 504,
        message: "upstream timed out after 300 ms",
        rateLimited: false,
      });
      expect(reads).toBe(0);
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    } finally {
      await upstream.close();
    }
  });

  it("gives up mid-body when the caller aborts, and before connecting when it aborts at once", async () => {
    const upstream = new HttpUpstream(origin, 60_000);
    const midBody = new AbortController();
    const abortOnStart = () => midBody.abort();
    slowStarted.add(abortOnStart);
    try {
      const outcome = await upstream.post("/slow", {}, {}, midBody.signal, drain, false);
      expect(outcome).toEqual({ kind: "retryable", code: 504, message: "aborted", rateLimited: false });
      expect(getEventListeners(midBody.signal, "abort")).toHaveLength(0);

      slowStarted.delete(abortOnStart);
      const atOnce = new AbortController();
      const pending = upstream.post("/fast", {}, {}, atOnce.signal, drain, false);
      atOnce.abort();
      expect(await pending).toEqual({ kind: "retryable", code: 504, message: "aborted", rateLimited: false });
      // The upstream still serves calls after both.
      expect(await upstream.post("/fast", {}, {}, new AbortController().signal, drain, false)).toEqual({
        chunks: 1,
      });
    } finally {
      slowStarted.delete(abortOnStart);
      await upstream.close();
    }
  });

  it("turns a refused connection into a retryable 502", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const upstream = new HttpUpstream(`http://127.0.0.1:${port}`, 5000);
    try {
      const outcome = await upstream.post("/fast", {}, {}, new AbortController().signal, drain, false);
      expect(outcome).toMatchObject({ kind: "retryable", code: 502, rateLimited: false });
      expect((outcome as { message: string }).message).toMatch(/^upstream connection error: /);
    } finally {
      await upstream.close();
    }
  });
});
