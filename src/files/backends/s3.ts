import { PassThrough, type Readable, Writable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { FilesConfig } from "../../config/types.js";
import type { BlobBackend, ByteRange } from "./backend.js";

/** Where an S3-compatible store keeps agentbatch's files (config/types.ts `files.s3`). */
export type S3Settings = NonNullable<FilesConfig["s3"]>;

/** Parts of a multipart upload; S3's minimum is 5 MiB. At most `queueSize` parts are in memory. */
const PART_BYTES = 5 * 1024 * 1024;

type S3Module = typeof import("@aws-sdk/client-s3");

/**
 * File bytes in an S3-compatible bucket, for large volumes. Uploads stream through a multipart
 * upload (@aws-sdk/lib-storage); reads stream the object body, with a Range for partial reads.
 * The SDK is loaded on first use, so deployments without S3 never load it.
 */
export class S3Backend implements BlobBackend {
  readonly name = "s3" as const;
  private sdk: Promise<{
    s3: S3Module;
    client: S3Client;
    Upload: typeof import("@aws-sdk/lib-storage").Upload;
  }> | null = null;

  constructor(private readonly settings: S3Settings) {}

  private load() {
    this.sdk ??= (async () => {
      const s3 = await import("@aws-sdk/client-s3");
      const { Upload } = await import("@aws-sdk/lib-storage");
      const { endpoint, region, accessKeyId, secretAccessKey } = this.settings;
      const client = new s3.S3Client({
        region: region ?? process.env.AWS_REGION ?? "us-east-1",
        ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
        ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
      });
      return { s3, client, Upload };
    })();
    return this.sdk;
  }

  private key(key: string): string {
    return `${this.settings.prefix}${key}`;
  }

  createWriteStream(key: string): Writable {
    const body = new PassThrough({ highWaterMark: PART_BYTES });
    const done = this.load().then(({ client, Upload }) =>
      new Upload({
        client,
        params: { Bucket: this.settings.bucket, Key: this.key(key), Body: body },
        partSize: PART_BYTES,
        queueSize: 2,
      }).done(),
    );
    // A failed upload must surface on the writer, not as an unhandled rejection.
    done.catch(() => {});
    return new Writable({
      highWaterMark: PART_BYTES,
      write(chunk, _enc, cb) {
        if (body.write(chunk)) cb();
        else body.once("drain", () => cb());
      },
      final(cb) {
        body.end();
        done.then(() => cb(), cb);
      },
      destroy(err, cb) {
        body.destroy(err ?? undefined);
        cb(err);
      },
    });
  }

  open(key: string, range: ByteRange = {}): Readable {
    const out = new PassThrough();
    const header =
      range.start !== undefined || range.end !== undefined
        ? `bytes=${range.start ?? 0}-${range.end === undefined ? "" : range.end}`
        : undefined;
    this.load()
      .then(({ s3, client }) =>
        client.send(
          new s3.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key), Range: header }),
        ),
      )
      .then((res) => {
        const body = res.Body as Readable | undefined;
        if (!body) throw new Error(`no body for ${key}`);
        body.on("error", (err) => out.destroy(err));
        body.pipe(out);
      })
      .catch((err) => out.destroy(err));
    return out;
  }

  async size(key: string): Promise<number> {
    const { s3, client } = await this.load();
    const head = await client.send(
      new s3.HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key) }),
    );
    return head.ContentLength ?? 0;
  }

  async remove(key: string): Promise<void> {
    const { s3, client } = await this.load();
    await client.send(new s3.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key) }));
  }

  async close(): Promise<void> {
    if (this.sdk) (await this.sdk).client.destroy();
  }
}
