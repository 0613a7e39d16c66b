/**
 * Preloaded (`node --import ./bench/call-parts-hooks.mjs`) into both ends of an upstream call by
 * `bench/call-parts.mjs`: it records, on the monotonic clock that every process of the machine
 * shares (`process.hrtime`), when each call passed each point, and writes them as JSON to
 * `CALL_PARTS_OUT` when the process exits.
 *
 * - In the client (the bench's phase process), from undici's diagnostics channels: the request
 *   made (`undici:request:create`, when the caller hands it to undici), its head written to the
 *   socket (`undici:client:sendHeaders`, with the socket's local port), the answer's head read
 *   (`undici:request:headers`) and its body whole (`undici:request:trailers`). The bench's own
 *   API calls (paths under /api/) are left out.
 * - In the mock LLM, from node:http's: a request's head parsed (`http.server.request.start`, with
 *   the client's port) and its answer written (`http.server.response.finish`).
 *
 * Calls on one keep-alive connection go one after the other, so a connection's calls pair up in
 * order between the two files (`call-parts.mjs` joins them by port).
 */
import dc from "node:diagnostics_channel";
import { writeFileSync } from "node:fs";

const out = process.env.CALL_PARTS_OUT;
const now = () => Number(process.hrtime.bigint()) / 1e6;

if (out) {
  /** Client side: [made, written, head read, whole, local port] per finished call. */
  const calls = [];
  const open = new WeakMap();
  dc.subscribe("undici:request:create", ({ request }) => {
    if (!request.path.startsWith("/api/")) open.set(request, [now(), 0, 0, 0, 0]);
  });
  dc.subscribe("undici:client:sendHeaders", ({ request, socket }) => {
    const call = open.get(request);
    if (call) {
      call[1] = now();
      call[4] = socket.localPort;
    }
  });
  dc.subscribe("undici:request:headers", ({ request }) => {
    const call = open.get(request);
    if (call) call[2] = now();
  });
  dc.subscribe("undici:request:trailers", ({ request }) => {
    const call = open.get(request);
    if (!call) return;
    call[3] = now();
    calls.push(call);
    open.delete(request);
  });

  /** Server side: [head parsed, answer written, client port] per answered request. */
  const served = [];
  const arriving = new WeakMap();
  dc.subscribe("http.server.request.start", ({ request }) => {
    arriving.set(request, [now(), 0, request.socket.remotePort]);
  });
  dc.subscribe("http.server.response.finish", ({ request }) => {
    const req = arriving.get(request);
    if (!req) return;
    req[1] = now();
    served.push(req);
  });

  process.on("exit", () => writeFileSync(out, JSON.stringify({ calls, served })));
}
