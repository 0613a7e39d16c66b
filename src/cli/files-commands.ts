import { type Command, InvalidArgumentError } from "commander";
import { loadConfig } from "../config/index.js";

function backendName(value: string): "local" | "db" | "s3" {
  if (value !== "local" && value !== "db" && value !== "s3") {
    throw new InvalidArgumentError("expected local, db or s3");
  }
  return value;
}

/** `agentbatch files migrate --to db|s3|local`: moves stored file bytes between backends. */
export function registerFilesCommands(program: Command): void {
  const files = program.command("files").description("stored files (uploads, attachments, output files)");
  files
    .command("migrate")
    .description("move every file's bytes to another backend (the data directory, the database, or S3)")
    .requiredOption("--to <backend>", "local, db or s3", backendName)
    .option("--db <url>", "database: sqlite:PATH or postgres://...")
    .option("--config <file>", "JSON config file (files.s3 settings for --to s3)")
    .action(async (opts) => {
      const config = loadConfig({ db: opts.db, configFile: opts.config });
      const { openStore } = await import("../store/index.js");
      const { FileStorage } = await import("../files/storage.js");
      const { migrateFiles } = await import("../files/migrate.js");
      const store = await openStore(config.db);
      const storage = new FileStorage({
        dataDir: config.dataDir,
        backend: opts.to,
        blobs: store.blobs,
        s3: config.files.s3,
      });
      try {
        const report = await migrateFiles(store, storage, opts.to, (r) =>
          process.stderr.write(`moved ${r.moved}, already there ${r.skipped}, failed ${r.failed.length}\n`),
        );
        process.stdout.write(`${JSON.stringify(report)}\n`);
        process.exitCode = report.failed.length > 0 ? 1 : 0;
      } finally {
        await storage.close();
        await store.close();
      }
    });
}
