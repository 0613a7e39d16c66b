/** Request schemas of the agents API. */
import { Type } from "@sinclair/typebox";
import { Body, Nullable, StringEnum } from "./common.js";

/** Structured output (OpenAI's `response_format`, without `text`: null is free text). */
const ResponseFormat = Body(
  {
    type: StringEnum(["json_object", "json_schema"] as const),
    json_schema: Type.Optional(
      Body({
        name: Type.String({ pattern: "^[a-zA-Z0-9_-]{1,64}$" }),
        schema: Type.Record(Type.String(), Type.Unknown(), { description: "JSON Schema of the answer" }),
        strict: Type.Optional(Type.Boolean()),
        description: Type.Optional(Type.String({ maxLength: 4000 })),
      }),
    ),
  },
  {
    description:
      "Structured output: {type: json_object} or {type: json_schema, json_schema: {name, schema, strict?}}; every answer is validated",
  },
);

const AgentFields = {
  name: Type.String({ minLength: 1, maxLength: 256 }),
  description: Nullable(Type.String({ maxLength: 4000 })),
  model: Type.String({
    minLength: 3,
    maxLength: 256,
    description: "provider/model, e.g. simulated/echo or openai/gpt-4o-mini",
  }),
  system_prompt: Nullable(Type.String({ maxLength: 100_000 })),
  temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
  max_tokens: Nullable(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  settings: Type.Record(Type.String(), Type.Unknown(), {
    description:
      "Model parameters sent with every call: top_p, stop, seed, frequency_penalty, presence_penalty (each refused with a 400 for a provider that cannot honour it); the simulator's latency_ms, error_rate, fail_status",
  }),
  tools: Type.Array(Type.Unknown(), {
    description:
      "Tools the model may call: {type: http|client, name, description, parameters, url, secret, timeout_ms}",
  }),
  max_steps: Type.Integer({ minimum: 1, maximum: 50, description: "Most model calls per turn (default 10)" }),
  response_format: Nullable(ResponseFormat),
};

export const CreateAgentBody = Body({
  name: AgentFields.name,
  model: AgentFields.model,
  description: Type.Optional(AgentFields.description),
  system_prompt: Type.Optional(AgentFields.system_prompt),
  temperature: Type.Optional(AgentFields.temperature),
  max_tokens: Type.Optional(AgentFields.max_tokens),
  settings: Type.Optional(AgentFields.settings),
  tools: Type.Optional(AgentFields.tools),
  max_steps: Type.Optional(AgentFields.max_steps),
  response_format: Type.Optional(AgentFields.response_format),
});

export const UpdateAgentBody = Type.Partial(Body(AgentFields), { minProperties: 1 });
