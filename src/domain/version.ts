/** agentbatch's version, as the CLI, the OpenAPI document and the User-Agent report it (package.json's). */
export const VERSION = "0.1.0";
