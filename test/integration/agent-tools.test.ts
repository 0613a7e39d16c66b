import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

const PARAMS = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
const weather = (extra: Record<string, unknown> = {}) => ({
  type: "http",
  name: "weather",
  description: "Current weather",
  parameters: PARAMS,
  url: "https://tools.example.com/weather",
  ...extra,
});

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer((c) => {
    c.tools.trustedOrigins = ["http://127.0.0.1:9"];
  });
});
afterAll(() => t?.close());

async function create(body: Record<string, unknown>) {
  return t.api("POST", "/api/v1/agents", { name: "tools", model: "simulated/echo", ...body });
}

function expect400(res: { status: number; body: any }, message: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.message).toContain(message);
}

describe("agent tools and max_steps", () => {
  it("stores tools and max_steps, returns them (without the secret) and snapshots them on publish", async () => {
    const res = await create({
      tools: [weather({ secret: "s3cret", timeout_ms: 5000 }), { type: "client", name: "ask_user" }],
      max_steps: 4,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const a = res.body.data;
    expect(a.max_steps).toBe(4);
    expect(a.tools).toEqual([
      {
        type: "http",
        name: "weather",
        description: "Current weather",
        parameters: PARAMS,
        url: "https://tools.example.com/weather",
        has_secret: true,
        timeout_ms: 5000,
      },
      { type: "client", name: "ask_user", description: null, parameters: { type: "object", properties: {} } },
    ]);
    expect(JSON.stringify(a)).not.toContain("s3cret");
    const pub = await t.api("POST", `/api/v1/agents/${a.id}/publish`);
    expect(pub.status).toBe(200);
    const version = await t.service.store.agents.getVersion(a.id, 1);
    expect(version?.maxSteps).toBe(4);
    expect(version?.tools?.map((x) => x.name)).toEqual(["weather", "ask_user"]);
    expect(version?.tools?.[0]).toMatchObject({ secret: "s3cret" });
    const patched = await t.api("PATCH", `/api/v1/agents/${a.id}`, { tools: [], max_steps: 1 });
    expect(patched.body.data).toMatchObject({ tools: [], max_steps: 1 });
  });

  it("defaults to no tools and 10 steps", async () => {
    const res = await create({});
    expect(res.body.data).toMatchObject({ tools: [], max_steps: 10 });
  });

  it("refuses bad definitions with a 400 naming the field", async () => {
    expect400(
      await create({ tools: [weather({ url: "http://tools.example.com/w" })] }),
      "tools[0].url must be https",
    );
    expect400(await create({ tools: [weather({ url: "not a url" })] }), "tools[0].url");
    expect400(await create({ tools: [weather(), weather()] }), "tools[1].name");
    expect400(await create({ tools: [weather({ parameters: { type: "string" } })] }), "tools[0].parameters");
    expect400(
      await create({ tools: [weather({ parameters: { type: "object", properties: { a: { type: 12 } } } })] }),
      "tools[0].parameters is not a valid JSON Schema",
    );
    expect400(await create({ tools: [{ type: "ftp", name: "x" }] }), "tools[0].type");
    expect400(
      await create({ tools: [{ type: "mcp", name: "x" }] }),
      "tools[0].name is not a field of an mcp tool",
    );
    expect400(await create({ tools: [weather({ name: "bad name!" })] }), "tools[0].name");
    expect400(await create({ tools: [weather({ color: "red" })] }), "tools[0].color");
    expect400(await create({ tools: [{ type: "client", name: "c", url: "https://x" }] }), "tools[0].url");
    expect400(await create({ max_steps: 0 }), "max_steps");
    expect400(await create({ max_steps: 51 }), "max_steps");
  });

  it("accepts http on a trusted origin", async () => {
    const res = await create({ tools: [weather({ url: "http://127.0.0.1:9/weather" })] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
});
