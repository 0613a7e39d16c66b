import type { FastifyInstance } from "fastify";
import { functionCallItem, responseObject } from "../providers/response-object.js";
import { type SimulatedTurn, simulateTurn } from "../providers/simulated-turn.js";
import { lastUserText } from "../providers/text.js";
import type { ModelRequest } from "../providers/types.js";
import { openAIError, sendRateLimited } from "./openai-chat.js";
import { parseResponsesBody } from "./responses-input.js";
import { answerDelayMs, delay, injectsFault, type MockRouteDeps } from "./route-support.js";
import { isObject, type Json, WireError } from "./wire-error.js";

/**
 * OpenAI's Responses API on the mock (`POST /v1/responses`, without streaming or stored
 * state): the simulated model's answer as a `message` item with `output_text`, or its tool
 * calls as `function_call` items, with the Response object's other fields echoed from the
 * request, under the same limits, faults and log as chat.
 */
export function registerResponses(app: FastifyInstance, deps: MockRouteDeps): void {
  let seq = 0;
  app.post("/v1/responses", async (request, reply) => {
    const body = (isObject(request.body) ? request.body : {}) as Json;
    deps.capture?.("/v1/responses", body);
    const model = typeof body.model === "string" ? body.model : "";
    let parsed: ModelRequest;
    try {
      parsed = parseResponsesBody(body);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      deps.log.record(400, model, "");
      return reply.code(400).send(openAIError(err.message, "invalid_request_error", err.param));
    }
    const userText = lastUserText(parsed.messages);
    const turn = simulateTurn(parsed);
    const refused = deps.limits.admit(turn.promptTokens + turn.completionTokens);
    if (refused) {
      deps.log.record(429, model, userText);
      return sendRateLimited(reply, deps, model, refused);
    }
    const wait = answerDelayMs(deps);
    if (wait > 0) await delay(wait);
    if (injectsFault(deps)) {
      deps.log.record(500, model, userText);
      return reply.code(500).send({ error: { message: "injected fault", type: "server_error" } });
    }
    deps.log.record(200, model, userText);
    return reply.headers(deps.limits.openAIHeaders()).send(toResponse(`mock${++seq}`, body, turn));
  });
}

function toResponse(id: string, body: Json, turn: SimulatedTurn): Json {
  const output: Json[] = turn.toolCalls
    ? turn.toolCalls.map((call, i) => functionCallItem(id, i, call))
    : [
        {
          type: "message",
          id: `msg_${id}`,
          status: "completed",
          role: "assistant",
          content: [{ type: "output_text", text: turn.text, annotations: [], logprobs: [] }],
        },
      ];
  return responseObject(body, {
    id,
    createdAt: Math.floor(Date.now() / 1000),
    model: String(body.model), // checked by parseResponsesBody
    output,
    incomplete: false,
    store: null,
    usage: { input: turn.promptTokens, cached: 0, output: turn.completionTokens, reasoning: 0 },
  });
}
