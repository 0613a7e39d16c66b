import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { publishedAgent, startTestServer, type TestServer } from "./server.js";

export interface ReceivedCall {
  callId: string;
  idempotencyKey: string | undefined;
  body: Record<string, any>;
  /** Both signature schemes checked against the secret. */
  signaturesValid: boolean;
}

/** A loopback http tool server: answers each call with the tool's name and arguments, logs every request. */
export interface ToolReceiver {
  url: string;
  origin: string;
  calls: ReceivedCall[];
  /** How many of the next requests answer 503 (exercises retries). */
  failNext: number;
  /** How long each call takes to answer. */
  delayMs: number;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function verify(secret: string, headers: IncomingMessage["headers"], body: string): boolean {
  const ts = String(headers["x-codeer-timestamp"]);
  const codeer = `sha256=${createHmac("sha256", secret).update(`${ts}.${body}`).digest("hex")}`;
  const id = String(headers["webhook-id"]);
  const wts = String(headers["webhook-timestamp"]);
  const standard = `v1,${createHmac("sha256", secret).update(`${id}.${wts}.${body}`).digest("base64")}`;
  return headers["x-codeer-signature"] === codeer && headers["webhook-signature"] === standard;
}

export async function startToolReceiver(secret: string): Promise<ToolReceiver> {
  const receiver: Partial<ToolReceiver> & {
    calls: ReceivedCall[];
    failNext: number;
    delayMs: number;
  } = {
    calls: [],
    failNext: 0,
    delayMs: 0,
  };
  const server: Server = createServer(async (req, res) => {
    const text = await readBody(req);
    if (receiver.failNext > 0) {
      receiver.failNext--;
      res.writeHead(503).end("busy");
      return;
    }
    const body = JSON.parse(text);
    if (receiver.delayMs > 0) await new Promise((r) => setTimeout(r, receiver.delayMs));
    receiver.calls.push({
      callId: body.call_id,
      idempotencyKey: req.headers["idempotency-key"] as string | undefined,
      body,
      signaturesValid: verify(secret, req.headers, text),
    });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ tool: body.tool, echoed: body.arguments, custom_id: body.custom_id }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  receiver.origin = `http://127.0.0.1:${port}`;
  receiver.url = `${receiver.origin}/tool`;
  receiver.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return receiver as ToolReceiver;
}

/** The `lookup` http tool (a city lookup) that `receiver` serves, signed with its secret. */
export function lookupTool(receiver: ToolReceiver, secret = "tool-secret") {
  return {
    type: "http",
    name: "lookup",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    url: receiver.url,
    secret,
  };
}

/** An agent published with the `lookup` tool at `receiver`, three model calls at most. */
export function lookupAgent(t: TestServer, receiver: ToolReceiver): Promise<string> {
  return publishedAgent(t, { tools: [lookupTool(receiver)], max_steps: 3 });
}

/** A tool receiver and a test server whose http tools may call it (a trusted origin). */
export interface ServerWithTools {
  t: TestServer;
  receiver: ToolReceiver;
  /** Closes both. */
  close(): Promise<void>;
}

export async function startServerWithTools(secret = "tool-secret"): Promise<ServerWithTools> {
  const receiver = await startToolReceiver(secret);
  const t = await startTestServer((c) => {
    c.tools.trustedOrigins = [receiver.origin];
  });
  return {
    t,
    receiver,
    close: async () => {
      await t.close();
      await receiver.close();
    },
  };
}
