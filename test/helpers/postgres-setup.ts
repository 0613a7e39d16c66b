/** Global setup of the postgres test project: fails the run at once if PostgreSQL is unreachable. */
import type { TestProject } from "vitest/node";
import { checkReachable } from "../../src/store/postgres/admin.js";

export async function setup(project: TestProject): Promise<void> {
  const url = project.config.env?.TEST_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("the postgres test project needs TEST_DATABASE_URL");
  await checkReachable(String(url));
}
