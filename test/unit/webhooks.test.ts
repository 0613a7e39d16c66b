import { describe, expect, it } from "vitest";
import { MAX_INLINE_CONTENT_BYTES, requestEventPayload } from "../../src/domain/webhook-events.js";
import {
  checkTargetUrl,
  forbiddenAddressKind,
  guardedLookup,
  TargetRefusedError,
} from "../../src/webhooks/guard.js";
import { nextAttemptAt, retryDelayMs } from "../../src/webhooks/retry-policy.js";
import { codeerSignature, deliveryHeaders, standardSignature } from "../../src/webhooks/signing.js";

describe("webhook signing", () => {
  it("reproduces the published Standard Webhooks test vector", () => {
    expect(
      standardSignature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        '{"test": 2432232314}',
      ),
    ).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("signs the seed's scheme over {timestamp}.{body} with the secret's bytes", () => {
    // HMAC-SHA256("key", "1.{}") computed independently (openssl dgst -sha256 -hmac key).
    expect(codeerSignature("key", "1", "{}")).toBe(
      "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224",
    );
  });

  it("sends ids and timestamps always, signatures only with a secret", () => {
    const unsigned = deliveryHeaders(
      { id: "msg_1", event: "batch.completed", payload: "{}", secret: null },
      5_000,
    );
    expect(unsigned).toMatchObject({
      "webhook-id": "msg_1",
      "webhook-timestamp": "5",
      "x-codeer-timestamp": "5",
    });
    expect(unsigned["webhook-signature"]).toBeUndefined();
    const signed = deliveryHeaders(
      { id: "msg_1", event: "batch.completed", payload: "{}", secret: "s" },
      5_000,
    );
    expect(signed["x-codeer-signature"]).toBe(codeerSignature("s", "5", "{}"));
    expect(signed["webhook-signature"]).toBe(standardSignature("s", "msg_1", "5", "{}"));
    expect(signed["user-agent"]).toMatch(/^agentbatch-webhooks\//);
  });
});

describe("the private-network guard", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["10.1.2.3", "private"],
    ["172.20.0.1", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "cloud metadata"],
    ["169.254.10.10", "link-local"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["0.0.0.0", "unspecified ('this network')"],
    ["224.0.0.1", "multicast"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fd00:ec2::254", "cloud metadata"],
    ["fd12::1", "private (unique local)"],
    ["fe80::1", "link-local"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:a00:1", "private"],
  ])("refuses %s (%s)", (address, kind) => {
    expect(forbiddenAddressKind(address)).toBe(kind);
  });

  it.each(["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])(
    "allows %s",
    (a) => {
      expect(forbiddenAddressKind(a)).toBeNull();
    },
  );

  it("checks the scheme and literal addresses before connecting", () => {
    const strict = { allowPrivateTargets: false, allowHttp: false };
    expect(() => checkTargetUrl("https://127.0.0.1/x", strict)).toThrow(/loopback/);
    expect(() => checkTargetUrl("https://[::ffff:127.0.0.1]/x", strict)).toThrow(TargetRefusedError);
    expect(() => checkTargetUrl("http://example.com/x", strict)).toThrow(/https/);
    expect(checkTargetUrl("https://127.0.0.1/x", { allowPrivateTargets: true, allowHttp: false }).host).toBe(
      "127.0.0.1",
    );
  });

  it("refuses a name that resolves to a private address, and hands only checked addresses to the socket", async () => {
    const lookupWith = (allowPrivateTargets: boolean) =>
      new Promise<{ err: Error | null; addresses: unknown }>((resolve) =>
        guardedLookup({ allowPrivateTargets, allowHttp: false })(
          "localhost",
          { all: true },
          (err, addresses) => resolve({ err, addresses }),
        ),
      );
    const refused = await lookupWith(false);
    expect(refused.err).toBeInstanceOf(TargetRefusedError);
    expect(refused.err?.message).toMatch(/localhost \(resolves to .*\) is a loopback address/);
    const allowed = await lookupWith(true);
    expect(allowed.err).toBeNull();
    expect(allowed.addresses).toEqual(
      expect.arrayContaining([expect.objectContaining({ family: expect.any(Number) })]),
    );
  });
});

describe("retry policy", () => {
  const policy = { retryBaseMs: 5_000, retryMaxMs: 3_600_000, retryWindowMs: 24 * 3_600_000 };

  it("starts near 5 s and doubles, with jitter, up to the cap", () => {
    for (let i = 0; i < 50; i++) {
      const first = retryDelayMs(1, 5_000, 3_600_000);
      expect(first).toBeGreaterThanOrEqual(4_000);
      expect(first).toBeLessThanOrEqual(6_000);
      const third = retryDelayMs(3, 5_000, 3_600_000);
      expect(third).toBeGreaterThanOrEqual(16_000);
      expect(third).toBeLessThanOrEqual(24_000);
      expect(retryDelayMs(40, 5_000, 3_600_000)).toBeLessThanOrEqual(3_600_000 * 1.2);
    }
  });

  it("gives up once the next try would fall outside the window", () => {
    const since = 0;
    expect(nextAttemptAt(1, 1_000, since, policy)).not.toBeNull();
    expect(nextAttemptAt(30, 24 * 3_600_000 - 1_000, since, policy)).toBeNull();
  });
});

describe("request event payload", () => {
  const item = {
    batchId: "b1",
    customId: "c1",
    status: "success",
    errorCode: null,
    errorMessage: null,
    responseContent: "hello",
    responseUsage: null,
    chatId: 3,
    conversationId: 4,
    processedAt: Date.UTC(2024, 0, 15, 10, 31),
  };

  it("carries the result row", () => {
    expect(JSON.parse(requestEventPayload("request.succeeded", item, Date.UTC(2024, 0, 15)))).toEqual({
      event: "request.succeeded",
      timestamp: "2024-01-15T00:00:00Z",
      data: {
        batch_id: "b1",
        custom_id: "c1",
        status: "success",
        error_code: null,
        error_message: null,
        result: {
          response_content: "hello",
          response_usage: null,
          history_id: 3,
          conversation_id: 4,
          processed_at: "2024-01-15T10:31:00Z",
        },
      },
    });
  });

  it("carries the parsed answer of structured output, left out with a huge response", () => {
    const structured = { ...item, responseContent: '{"a":1}', responseJson: { a: 1 } };
    const body = JSON.parse(requestEventPayload("request.succeeded", structured, 0));
    expect(body.data.result.response_json).toEqual({ a: 1 });
    const big = { ...structured, responseContent: "x".repeat(MAX_INLINE_CONTENT_BYTES + 1) };
    expect(JSON.parse(requestEventPayload("request.succeeded", big, 0)).data.result).not.toHaveProperty(
      "response_json",
    );
  });

  it("replaces a huge response by a pointer to the results", () => {
    const big = { ...item, responseContent: "x".repeat(MAX_INLINE_CONTENT_BYTES + 1) };
    const body = JSON.parse(requestEventPayload("request.succeeded", big, 0));
    expect(body.data.result.response_content).toBeNull();
    expect(body.data.result.response_content_truncated).toBe(true);
    expect(body.data.result.results_url).toBe("/api/v1/batches/b1/results/c1");
    const odd = JSON.parse(requestEventPayload("request.succeeded", { ...big, customId: "row 7/a?b#c" }, 0));
    expect(odd.data.result.results_url).toBe("/api/v1/batches/b1/results/row%207%2Fa%3Fb%23c");
  });
});

describe("the guard's refusals", () => {
  it("name the settings that lift them as the config file and the environment spell them", () => {
    const strict = { allowPrivateTargets: false, allowHttp: false };
    expect(() => checkTargetUrl("https://10.0.0.1/x", strict)).toThrow(
      /webhooks\.allow_private_targets in the config file \(or AGENTBATCH_WEBHOOK_ALLOW_PRIVATE=1\)/,
    );
    expect(() => checkTargetUrl("http://example.com/x", strict)).toThrow(
      /webhooks\.allow_http in the config file \(or AGENTBATCH_WEBHOOK_ALLOW_HTTP=1\)/,
    );
  });
});
