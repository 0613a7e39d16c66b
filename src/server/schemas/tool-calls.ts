/** Request schemas of the client tool routes. */
import { Type } from "@sinclair/typebox";
import { Body, PageQuery, Query, StringEnum } from "./common.js";

export const MAX_TOOL_OUTPUTS = 1000;

export const ToolCallsQuery = Query({
  ...PageQuery.properties,
  status: Type.Optional(StringEnum(["pending"] as const, { default: "pending" })),
});

export const ToolOutputsBody = Body({
  outputs: Type.Array(
    Body({
      call_id: Type.String({ minLength: 1, maxLength: 128 }),
      output: Type.Unknown({
        description: "The tool's result: a string, or any JSON value (sent as its JSON text)",
      }),
    }),
    { minItems: 1, maxItems: MAX_TOOL_OUTPUTS },
  ),
});
