import { migration001 } from "./001-core.js";
import { migration002 } from "./002-files.js";
import { migration003 } from "./003-webhooks.js";
import { migration004 } from "./004-chat-api.js";
import { migration005 } from "./005-batch-input.js";
import { migration006 } from "./006-workers.js";
import { migration007 } from "./007-api-batches.js";
import { migration008 } from "./008-file-chunks.js";
import { migration009 } from "./009-batch-context.js";
import { migration010 } from "./010-agent-tools.js";
import { migration011 } from "./011-interruptions.js";
import { migration012 } from "./012-background-ingest.js";
import { migration013 } from "./013-key-lifecycle.js";
import { migration014 } from "./014-response-detail.js";
import { migration015 } from "./015-structured-output.js";
import { migration016 } from "./016-chat-client-tools.js";
import { migration017 } from "./017-metrics-totals.js";
import { migration018 } from "./018-cached-prompt-tokens.js";
import { migration019 } from "./019-drop-items-runnable.js";
import { migration020 } from "./020-ingest-resume.js";
import { migration021 } from "./021-drop-items-leased.js";
import type { Migration } from "./migration.js";

export type { Migration, SqlTypes } from "./migration.js";

/** Every migration, in version order (the order they are applied in). */
export const migrations: readonly Migration[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
  migration006,
  migration007,
  migration008,
  migration009,
  migration010,
  migration011,
  migration012,
  migration013,
  migration014,
  migration015,
  migration016,
  migration017,
  migration018,
  migration019,
  migration020,
  migration021,
].sort((a, b) => a.version - b.version);
