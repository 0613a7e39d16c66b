import { attachmentKind } from "../files/attachments.js";
import type { Store } from "../store/types.js";

/**
 * Checks files named in `attached_file_uuids` (chat messages and batch requests): each must be an
 * attachment of the workspace that a model can read. Returns, per problem id, why it cannot be
 * attached; ids missing from the map are fine.
 */
export async function attachmentProblems(
  store: Store,
  workspaceId: string,
  fileIds: string[],
): Promise<Map<string, string>> {
  const problems = new Map<string, string>();
  if (fileIds.length === 0) return problems;
  const found = new Map((await store.files.getMany(workspaceId, fileIds)).map((f) => [f.id, f]));
  for (const id of new Set(fileIds)) {
    const file = found.get(id);
    if (!file) problems.set(id, `file ${id} not found in this workspace`);
    else if (file.purpose !== "attachment") {
      problems.set(
        id,
        `file ${id} is a ${file.purpose} file, not an attachment (upload it with POST /api/v1/chats/upload-file)`,
      );
    } else if (attachmentKind(file.contentType) === null) {
      problems.set(id, `file ${id} is ${file.contentType}, which cannot be passed to a model`);
    }
  }
  return problems;
}
