import { defineConfig } from "vitest/config";

/**
 * `vitest run` runs every test on SQLite, then the API integration suite (test/integration), the
 * store conformance suite (test/store) and the PostgreSQL-only tests (test/postgres) again on PostgreSQL: test/helpers/server.ts reads
 * TEST_STORE and gives each server a fresh schema of TEST_DATABASE_URL. An unreachable
 * PostgreSQL fails the run (test/helpers/postgres-setup.ts); it is never skipped.
 */
const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: "forks" as const,
};

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          ...shared,
          name: "sqlite",
          include: ["test/**/*.test.ts", "src/**/*.test.ts"],
          exclude: ["test/postgres/**"],
          env: { TEST_STORE: "sqlite" },
        },
      },
      {
        extends: true,
        test: {
          ...shared,
          name: "postgres",
          include: ["test/integration/**/*.test.ts", "test/postgres/**/*.test.ts", "test/store/**/*.test.ts"],
          // Spawns its own SQLite server; test/integration/chaos.test.ts covers PostgreSQL.
          // engine-thread: engine.thread is for SQLite only (PostgreSQL scales out in processes).
          // mock-llm-jitter: the mock's own, no store.
          exclude: [
            "test/integration/crash.test.ts",
            "test/integration/engine-thread.test.ts",
            "test/integration/mock-llm-jitter.test.ts",
          ],
          globalSetup: ["test/helpers/postgres-setup.ts"],
          env: {
            TEST_STORE: "postgres",
            TEST_DATABASE_URL: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
          },
        },
      },
    ],
  },
});
