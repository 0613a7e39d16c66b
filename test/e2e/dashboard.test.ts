/**
 * The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium) driven by playwright-core,
 * against the real server serving the built dashboard (dist/web). A missing Chromium fails the
 * test (.ci/run installs it); no browser is ever downloaded.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_DIR } from "../../src/server/dashboard.js";
import { publishedAgent, startTestServer, type TestServer, waitFor } from "../helpers/server.js";
import { lookupAgent, startToolReceiver, type ToolReceiver } from "../helpers/tool-receiver.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const ROOT = join(import.meta.dirname, "..", "..");
const SCREENSHOT = join(ROOT, "docs", "dashboard.png");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** `npm test` builds first; a direct `vitest run` after editing src/web rebuilds the dashboard here. */
function ensureDashboardBuilt(): void {
  const index = join(DASHBOARD_DIR, "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtime(join(ROOT, "src", "web"))) return;
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "--config", "src/web/vite.config.ts"],
    { cwd: ROOT, stdio: "inherit" },
  );
}

async function batchStatus(t: TestServer, id: string): Promise<any> {
  return (await t.api("GET", `/api/v1/batches/${id}`)).body.data;
}

async function waitForBatchFinal(t: TestServer, id: string): Promise<any> {
  return waitFor(
    async () => {
      const b = await batchStatus(t, id);
      return ["completed", "failed", "cancelled"].includes(b?.status) ? b : null;
    },
    { what: `batch ${id} to finish` },
  );
}

/** The batch id of the batch page the browser shows. */
function batchIdOf(page: Page): string {
  const m = /\/batches\/([^/?#]+)/.exec(new URL(page.url()).pathname);
  if (!m) throw new Error(`not on a batch page: ${page.url()}`);
  return decodeURIComponent(m[1]);
}

describe("dashboard in Chromium", () => {
  let t: TestServer;
  let browser: Browser;
  let tools: ToolReceiver;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
    }
    ensureDashboardBuilt();
    tools = await startToolReceiver("tool-secret");
    t = await startTestServer((c) => {
      c.engine.concurrency = 4;
      c.tools.trustedOrigins = [tools.origin];
    });
    // launch() gives every run a new, empty profile (a temporary user data dir).
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await tools?.close();
  });

  it("serves the dashboard at / without shadowing the API", async () => {
    const html = await fetch(`${t.url}/`);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('<div id="app">');
    const deep = await fetch(`${t.url}/batches/some-id`, { headers: { accept: "text/html" } });
    expect(deep.status).toBe(200);
    expect(deep.headers.get("content-type")).toContain("text/html");
    const api = await fetch(`${t.url}/api/v1/nope`, { headers: { accept: "text/html" } });
    expect(api.status).toBe(404);
    expect((await api.json()).error_code).toBe(10003);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/docs`, { headers: { accept: "text/html" } })).status).toBe(200);
    expect((await fetch(`${t.url}/openapi.json`)).headers.get("content-type")).toContain("json");
  });

  it("shows the fields of structured answers as columns of the results table", async () => {
    const schema = {
      type: "object",
      properties: {
        label: { type: "string", enum: ["spam", "ham"] },
        score: { type: "integer", minimum: 3 },
      },
      required: ["label", "score"],
    };
    const agent = await publishedAgent(t, {
      response_format: { type: "json_schema", json_schema: { name: "verdict", schema } },
    });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests: [
        { custom_id: "s-1", message: "first" },
        { custom_id: "s-2", message: "second [invalid-json:always]" },
      ],
    });
    const done = await waitForBatchFinal(t, created.body.data.id);
    expect(done).toMatchObject({ completed_requests: 1, failed_requests: 1 });
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${t.url}/#key=${encodeURIComponent(t.key)}`);
    await page.getByRole("heading", { name: "Batches" }).waitFor();
    await page.goto(`${t.url}/batches/${done.id}`);
    const table = page.getByTestId("results-table");
    await table.getByText("s-1", { exact: true }).waitFor();
    expect(await table.getByTestId("json-field").allTextContents()).toEqual(["label", "score"]);
    const row = table.locator("tbody tr", { hasText: "s-1" });
    expect(await row.locator("td").allTextContents()).toEqual(expect.arrayContaining(["spam", "3"]));
    await table.locator("tbody tr", { hasText: "s-2" }).getByText(/422/).waitFor();
    await context.close();
  });

  it("expands a result of an agent with a tool into its step timeline, by keyboard", async () => {
    const agent = await lookupAgent(t, tools);
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests: [{ custom_id: "tool-row", message: "Weather in Paris" }],
    });
    const done = await waitForBatchFinal(t, created.body.data.id);
    expect(done.status).toBe("completed");
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${t.url}/#key=${encodeURIComponent(t.key)}`);
    await page.getByRole("heading", { name: "Batches" }).waitFor();
    await page.goto(`${t.url}/batches/${done.id}`);
    const table = page.getByTestId("results-table");
    const rowToggle = table.getByTestId("row-toggle").filter({ hasText: "tool-row" });
    await rowToggle.focus();
    await page.keyboard.press("Enter");
    expect(await rowToggle.getAttribute("aria-expanded")).toBe("true");
    const stepsToggle = table.getByTestId("steps-toggle");
    await stepsToggle.focus();
    await page.keyboard.press("Enter");
    const timeline = table.getByTestId("step-timeline");
    await timeline.waitFor();
    const steps = timeline.getByTestId("step");
    await waitFor(async () => (await steps.count()) === 3, { what: "three steps" });
    const texts = await steps.allTextContents();
    expect(texts[0]).toMatch(/^model echo · \d+ ms/);
    expect(texts[0]).toContain("→ lookup(");
    expect(texts[1]).toMatch(/^tool lookup · \d+ ms/);
    expect(texts[1]).toContain('"custom_id":"tool-row"');
    expect(texts[2]).toMatch(/^model echo/);
    expect(texts[2]).toContain("Tool results:");
    expect(await stepsToggle.getAttribute("aria-expanded")).toBe("true");
    await context.close();
  });

  it("sends security headers on the dashboard, its assets, the docs and file downloads", async () => {
    const html = await fetch(`${t.url}/`);
    const csp = html.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(html.headers.get("x-content-type-options")).toBe("nosniff");
    expect(html.headers.get("referrer-policy")).toBe("no-referrer");
    const docs = await fetch(`${t.url}/docs/`, { headers: { accept: "text/html" } });
    expect(docs.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob(["<script>alert(1)</script>\n"]), "x.jsonl");
    const auth = { authorization: `Bearer ${t.key}` };
    const up = await fetch(`${t.url}/v1/files`, { method: "POST", headers: auth, body: form });
    const fileId = ((await up.json()) as any).id;
    const download = await fetch(`${t.url}/v1/files/${fileId}/content`, { headers: auth });
    expect(download.status).toBe(200);
    expect(download.headers.get("x-content-type-options")).toBe("nosniff");
    expect(download.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  });

  it("asks before a sign-in link's key replaces a different stored key", async () => {
    const other = await t.newWorkspaceKey("other-team");
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.url}/#key=${encodeURIComponent(t.key)}`);
    await page.getByRole("heading", { name: "Batches" }).waitFor();
    const stored = () => page.evaluate(() => localStorage.getItem("agentbatch.apiKey"));

    // Keep: the stored key stays, and the link's key is gone from the address bar.
    await page.goto(`${t.url}/#key=${encodeURIComponent(other)}`);
    await page.getByRole("alertdialog").getByText("Switch API key?").waitFor();
    expect(page.url()).not.toContain("key=");
    expect(await stored()).toBe(t.key);
    await page.click('[data-action="keep-key"]');
    await page.getByRole("alertdialog").waitFor({ state: "detached" });
    expect(await stored()).toBe(t.key);

    // Replace: the link's key is stored and the page reloads under it.
    await page.goto(`${t.url}/#key=${encodeURIComponent(other)}`);
    await page.click('[data-action="replace-key"]');
    await waitFor(async () => (await stored()) === other, { what: "the link's key to be stored" });
    await page.getByRole("heading", { name: "Batches" }).waitFor();
    expect(await page.getByRole("alertdialog").count()).toBe(0);

    // The same key as stored: no question.
    await page.goto(`${t.url}/#key=${encodeURIComponent(other)}`);
    await page.getByRole("heading", { name: "Batches" }).waitFor();
    expect(await page.getByRole("alertdialog").count()).toBe(0);
    await context.close();
  });

  it("signs in, uploads a CSV, follows it to completed, pauses and resumes, exports CSV", async () => {
    const fastAgent = await publishedAgent(t, { name: "Fast agent", model: "simulated/echo" });
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1200, height: 1000 },
    });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    // The dashboard works under its Content-Security-Policy: no violation is reported.
    page.on("console", (msg) => {
      if (/Content.Security.Policy/i.test(msg.text())) pageErrors.push(msg.text());
    });

    // A sign-in link stores the key and leaves the address bar clean.
    await page.goto(`${t.url}/#key=${encodeURIComponent(t.key)}`);
    await page.getByRole("heading", { name: "Batches" }).waitFor();
    expect(page.url()).not.toContain("key=");
    expect(await page.evaluate(() => localStorage.getItem("agentbatch.apiKey"))).toBe(t.key);

    // Signing out and in again with the form.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByPlaceholder("ab_…").fill("ab_not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".error").waitFor();
    await page.getByPlaceholder("ab_…").fill(t.key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Batches" }).waitFor();

    // An agent made and published on the agents page (it answers slowly, for the pause below).
    await page.getByRole("link", { name: "Agents" }).click();
    await page.getByRole("button", { name: "New agent" }).click();
    const form = page.getByTestId("agent-form");
    await form.locator('input[name="name"]').fill("Slow agent");
    await form.locator('input[name="model"]').fill("simulated/echo?latency_ms=120");
    await form.locator('textarea[name="system_prompt"]').fill("You are terse.");
    await form.getByRole("button", { name: "Save" }).click();
    const slowRow = page.locator("tr", { hasText: "Slow agent" });
    await slowRow.waitFor();
    await slowRow.getByRole("button", { name: "Publish" }).click();
    await slowRow.getByText("published v1").waitFor();
    const slowAgent = (await slowRow.getAttribute("data-agent-id"))!;

    // Upload a CSV through the form and watch the batch complete.
    const rows = 25;
    const csv = [
      "custom_id,message",
      ...Array.from({ length: rows }, (_, i) => `row-${i + 1},Question ${i + 1}`),
    ];
    await page.getByRole("link", { name: "New batch" }).click();
    await page.locator('select[name="agent"]').selectOption(fastAgent);
    await page.locator('input[name="name"]').fill("Uploaded CSV");
    await page.locator('input[type="file"]').setInputFiles({
      name: "questions.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(`${csv.join("\n")}\n`),
    });
    await page.getByRole("button", { name: "Create batch" }).click();
    await page.waitForURL(/\/batches\/[^/]+$/);
    const uploadedId = batchIdOf(page);
    await page.getByTestId("batch-status").filter({ hasText: "completed" }).waitFor({ timeout: 20_000 });
    await page
      .getByTestId("succeeded")
      .filter({ hasText: String(rows) })
      .waitFor();
    expect((await batchStatus(t, uploadedId)).completed_requests).toBe(rows);
    await page.getByTestId("results-table").getByText("row-1", { exact: true }).waitFor();

    // The CSV export, downloaded by the browser, holds every row.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-export="csv"]')]);
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    const exported = parse(readFileSync((await download.path())!), { columns: true }) as Record<
      string,
      string
    >[];
    expect(exported).toHaveLength(rows);
    expect(exported.map((r) => r.custom_id).sort()).toEqual(
      Array.from({ length: rows }, (_, i) => `row-${i + 1}`).sort(),
    );
    expect(exported.every((r) => r.status === "success" && r.response_content.length > 0)).toBe(true);

    // A file with bad rows, skipped: the batch runs the good ones and lists the bad ones by row.
    await page.getByRole("link", { name: "New batch" }).click();
    await page.locator('select[name="agent"]').selectOption(fastAgent);
    await page.locator('input[type="file"]').setInputFiles({
      name: "with-errors.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("custom_id,message\nok-1,Hello\nbad-1,\nok-2,Hi\nok-2,Duplicate id\n"),
    });
    await page.getByLabel("skip them and report").check();
    await page.getByRole("button", { name: "Create batch" }).click();
    await page.waitForURL(/\/batches\/[^/]+$/);
    const skipped = await waitForBatchFinal(t, batchIdOf(page));
    expect(skipped.total_requests).toBe(2);
    const errorsCard = page.getByTestId("validation-errors");
    await errorsCard.waitFor();
    expect(await errorsCard.locator("tbody tr").count()).toBe(skipped.validation_errors.length);
    expect(skipped.validation_errors.length).toBe(2);
    await page.getByTestId("batch-status").filter({ hasText: "completed" }).waitFor();

    // Search in the results table of the first batch.
    await page.goto(`${t.url}/batches/${uploadedId}`);
    await page.getByTestId("results-search").fill("row-17");
    await page.getByText("1 match in 25 results").waitFor();
    expect(await page.getByTestId("results-table").locator("tbody tr").count()).toBe(1);

    // A slower batch from pasted messages: pause it while it runs, then resume it to the end.
    const lines = 60;
    await page.getByRole("link", { name: "New batch" }).click();
    await page.locator('select[name="agent"]').selectOption(slowAgent);
    await page.locator('input[name="name"]').fill("Pasted messages");
    await page.getByRole("button", { name: "Paste messages" }).click();
    await page
      .locator('textarea[name="messages"]')
      .fill(Array.from({ length: lines }, (_, i) => `Message number ${i + 1}`).join("\n"));
    await page.getByRole("button", { name: "Create batch" }).click();
    await page.waitForURL(/\/batches\/[^/]+$/);
    const slowId = batchIdOf(page);
    await page.getByTestId("batch-status").filter({ hasText: "in progress" }).waitFor();
    await waitFor(async () => (await batchStatus(t, slowId)).completed_requests >= 8, {
      what: "the slow batch to make progress",
    });
    await page.click('[data-action="pause"]');
    await page.getByTestId("batch-status").filter({ hasText: "paused" }).waitFor();
    const paused = await waitFor(
      async () => {
        const b = await batchStatus(t, slowId);
        return b.status === "paused" && b.processing_requests === 0 ? b : null;
      },
      { what: "in-flight items to finish after the pause" },
    );
    expect(paused.pending_requests).toBeGreaterThan(0);
    expect(await page.locator('[data-action="resume"]').isEnabled()).toBe(true);
    expect(await page.locator('[data-action="pause"]').isDisabled()).toBe(true);
    await page.click('[data-action="resume"]');
    await page.getByTestId("batch-status").filter({ hasText: "completed" }).waitFor({ timeout: 30_000 });
    await page
      .getByTestId("succeeded")
      .filter({ hasText: String(lines) })
      .waitFor();
    expect((await batchStatus(t, slowId)).completed_requests).toBe(lines);

    // The page followed the batch live, and its chart has the run's history.
    await page.locator(".chart svg polygon").first().waitFor();
    mkdirSync(join(ROOT, "docs"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: false });

    // The list shows both batches, finished.
    await page.getByRole("link", { name: "Batches" }).first().click();
    const list = page.getByTestId("batches-table");
    await list.locator(`tr[data-batch-id="${uploadedId}"]`).getByText("completed").waitFor();
    await list.locator(`tr[data-batch-id="${slowId}"]`).getByText("100%").waitFor();

    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
