/** Request schemas of the OpenAI Files and Batch APIs, as OpenAI documents their parameters. */
import { Type } from "@sinclair/typebox";
import { Body, Query } from "../schemas/common.js";

/** `output_expires_after` and other fields agentbatch does not honour are refused, naming them. */
export const CreateBatchBody = Body({
  input_file_id: Type.String({ minLength: 1, description: "A file uploaded with purpose batch" }),
  endpoint: Type.String({ description: "/v1/chat/completions, /v1/embeddings or /v1/responses" }),
  completion_window: Type.String({ description: "24h" }),
  metadata: Type.Optional(
    Type.Union([
      Type.Record(Type.String(), Type.String({ maxLength: 512 }), { maxProperties: 16 }),
      Type.Null(),
    ]),
  ),
});

export const ListBatchesQuery = Query({
  after: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});

export const ListFilesQuery = Query({
  after: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 10_000 }),
  order: Type.Union([Type.Literal("asc"), Type.Literal("desc")], { default: "desc" }),
  purpose: Type.Optional(Type.String()),
});
