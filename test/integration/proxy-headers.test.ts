/**
 * Proxy headers and public_url (issue 16, item 11): X-Forwarded-* are ignored unless trustProxy
 * is set (a client cannot choose the host of its links or its rate-limit address), and
 * public_url, when set, is the base of pagination links, file_url and Anthropic's results_url.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const FORWARDED = {
  "x-forwarded-host": "evil.example",
  "x-forwarded-proto": "https",
  "x-forwarded-for": "203.0.113.9",
};

async function nextPage(t: TestServer): Promise<string> {
  for (let i = 0; i < 2; i++)
    await t.api("POST", "/api/v1/agents", { name: `a${i}`, model: "simulated/echo" });
  const res = await fetch(`${t.url}/api/v1/agents?limit=1`, {
    headers: { "x-api-key": t.key, ...FORWARDED },
  });
  const body = (await res.json()) as any;
  return body.pagination.next_page as string;
}

async function uploadedFileUrl(t: TestServer): Promise<string> {
  const form = new FormData();
  form.append("file", new Blob(["hello"], { type: "text/plain" }), "a.txt");
  const res = await fetch(`${t.url}/api/v1/chats/upload-file`, {
    method: "POST",
    headers: { "x-api-key": t.key, ...FORWARDED },
    body: form,
  });
  return ((await res.json()) as any).data.file_url;
}

describe("proxy headers and public_url", () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("ignores X-Forwarded-* by default", async () => {
    t = await startTestServer(() => {}, { worker: false });
    expect(t.service.config.trustProxy).toBe(false);
    const next = await nextPage(t);
    expect(next.startsWith(`${t.url}/api/v1/agents?`)).toBe(true);
    expect(await uploadedFileUrl(t)).toMatch(new RegExp(`^${t.url}/`));
  });

  it("believes X-Forwarded-* when trustProxy is on", async () => {
    t = await startTestServer(
      (c) => {
        c.trustProxy = true;
      },
      { worker: false },
    );
    expect((await nextPage(t)).startsWith("https://evil.example/api/v1/agents?")).toBe(true);
  });

  it("uses public_url for pagination links, file_url and Anthropic's results_url", async () => {
    t = await startTestServer((c) => {
      c.publicUrl = "https://batch.example.com";
    });
    expect((await nextPage(t)).startsWith("https://batch.example.com/api/v1/agents?")).toBe(true);
    expect(await uploadedFileUrl(t)).toMatch(/^https:\/\/batch\.example\.com\/api\/v1\//);
    const created = await t.api("POST", "/v1/messages/batches", {
      requests: [
        {
          custom_id: "a",
          params: { model: "simulated/echo", max_tokens: 5, messages: [{ role: "user", content: "hi" }] },
        },
      ],
    });
    expect(created.status).toBe(200);
    const id = created.body.id as string;
    let ended: any = null;
    const deadline = Date.now() + 20_000;
    while (!ended && Date.now() < deadline) {
      const b = await t.api("GET", `/v1/messages/batches/${id}`);
      if (b.body.processing_status === "ended") ended = b.body;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(ended?.results_url).toBe(`https://batch.example.com/v1/messages/batches/${id}/results`);
  });

  it("refuses a public_url that is not an absolute http(s) URL, and reads trust_proxy settings", () => {
    expect(() => loadConfig({}, { AGENTBATCH_PUBLIC_URL: "batch.example.com" })).toThrow(/public_url/);
    expect(() => loadConfig({}, { AGENTBATCH_PUBLIC_URL: "ftp://x" })).toThrow(/public_url/);
    expect(loadConfig({}, { AGENTBATCH_PUBLIC_URL: "https://x.example/base/" }).publicUrl).toBe(
      "https://x.example/base",
    );
    expect(loadConfig({}, {}).trustProxy).toBe(false);
    expect(loadConfig({}, { AGENTBATCH_TRUST_PROXY: "1" }).trustProxy).toBe(1);
    expect(loadConfig({}, { AGENTBATCH_TRUST_PROXY: "true" }).trustProxy).toBe(true);
    expect(loadConfig({}, { AGENTBATCH_TRUST_PROXY: "10.0.0.0/8" }).trustProxy).toBe("10.0.0.0/8");
  });
});
