import type { ApiPlugin } from "../api-plugin.js";
import { keyFromHeaders, workspaceOf } from "../auth.js";
import { errorHandlerFor } from "../error-layer/handlers.js";
import { openAIBatchRoutes } from "./openai-batch-routes.js";
import { incorrectApiKey, missingApiKey } from "./openai-errors.js";
import { openAIFileRoutes } from "./openai-file-routes.js";

/**
 * The OpenAI Files and Batch APIs (register under `/v1`), for the official SDKs with only
 * `baseURL` and `apiKey` changed: keys as `Authorization: Bearer` (or `x-api-key`), every error
 * in OpenAI's shape. The output files are written by the service's OpenAIOutputWriter.
 */
export const openAIBatchApi: ApiPlugin = async (app, { ctx }) => {
  app.setErrorHandler(errorHandlerFor("openai"));
  app.addHook("onRequest", async (request) => {
    request.workspace = await workspaceOf(ctx.keys, keyFromHeaders(request.headers), {
      missing: missingApiKey,
      invalid: incorrectApiKey,
    });
  });
  await app.register(openAIFileRoutes, { ctx });
  await app.register(openAIBatchRoutes, { ctx });
};
