/** Request schemas of the Anthropic Message Batches API (params are checked by anthropic-params.ts). */
import { Type } from "@sinclair/typebox";
import { Body, Query } from "../schemas/common.js";

/** Anthropic's own limit of requests in one Message Batch. */
const MAX_ANTHROPIC_REQUESTS = 100_000;

export const CreateBody = Body({
  requests: Type.Array(
    Body({
      custom_id: Type.String({ description: "1-64 characters of [a-zA-Z0-9_-], unique in the batch" }),
      params: Type.Record(Type.String(), Type.Unknown(), { description: "A Messages API request body" }),
    }),
    { minItems: 1, maxItems: MAX_ANTHROPIC_REQUESTS },
  ),
});

/**
 * `?beta=true`: what the SDK's `client.beta.messages.batches` adds to every URL in its older
 * versions; accepted (and meaningless here) on every route of this shape.
 */
const beta = Type.Optional(Type.String({ description: "Sent by the SDK's beta resources; ignored" }));

/** The query of the routes of this shape that take no other parameters. */
export const BetaQuery = Query({ beta });

export const ListQuery = Query({
  before_id: Type.Optional(Type.String()),
  after_id: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
  beta,
});
