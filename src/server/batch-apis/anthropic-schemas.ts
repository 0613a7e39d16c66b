/** Request schemas of the Anthropic Message Batches API (params are checked by anthropic-params.ts). */
import { Type } from "@sinclair/typebox";

/** Anthropic's own limit of requests in one Message Batch. */
const MAX_ANTHROPIC_REQUESTS = 100_000;

export const CreateBody = Type.Object({
  requests: Type.Array(
    Type.Object({
      custom_id: Type.String({ description: "1-64 characters of [a-zA-Z0-9_-], unique in the batch" }),
      params: Type.Record(Type.String(), Type.Unknown(), { description: "A Messages API request body" }),
    }),
    { minItems: 1, maxItems: MAX_ANTHROPIC_REQUESTS },
  ),
});

export const ListQuery = Type.Object({
  before_id: Type.Optional(Type.String()),
  after_id: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
});
