/** The index of uploaded and produced files (their bytes are kept by `files/`). */
import type { Page, PageQuery } from "./page.js";

/** What a file is for: a chat/batch attachment, a batch input file, or a file agentbatch produced. */
export type FilePurpose = "attachment" | "batch_input" | "batch_output" | "batch_error";

export interface FileRecord {
  id: string;
  workspaceId: string;
  purpose: FilePurpose;
  scope: "persistent" | "ephemeral";
  originalName: string;
  contentType: string;
  size: number;
  /** Path of the bytes relative to the data directory (files/ owns the layout). */
  storagePath: string;
  meta: Record<string, unknown> | null;
  createdAt: number;
}

export interface FileListQuery extends PageQuery {
  purpose?: FilePurpose;
}

export interface FileStore {
  create(file: FileRecord): Promise<FileRecord>;
  /** A file of the workspace that has not been deleted. */
  get(workspaceId: string, fileId: string): Promise<FileRecord | undefined>;
  /** Bytes of the workspace's files not deleted (its storage quota's use). */
  totalBytes(workspaceId: string): Promise<number>;
  /** Those of `fileIds` that are files of the workspace and not deleted (any order). */
  getMany(workspaceId: string, fileIds: string[]): Promise<FileRecord[]>;
  /** Files of a workspace, newest first. */
  list(workspaceId: string, query: FileListQuery): Promise<Page<FileRecord>>;
  /** Marks a file deleted and returns it (the caller removes its bytes), or undefined if there was none. */
  delete(workspaceId: string, fileId: string, now: number): Promise<FileRecord | undefined>;
  /** Files of every workspace that are not deleted, by id after `afterId` (moving bytes between backends). */
  listAllAfter(afterId: string, limit: number): Promise<FileRecord[]>;
  /** Files of every workspace, not deleted, created before `cutoff`, oldest first (retention). */
  listCreatedBefore(cutoff: number, limit: number): Promise<FileRecord[]>;
  /** Points a file at where its bytes are now. */
  setStoragePath(fileId: string, storagePath: string): Promise<void>;
}
