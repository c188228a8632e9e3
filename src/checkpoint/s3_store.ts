import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "../core/clock.ts";
import { describe } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { CheckpointStore } from "./store.ts";

export const MANIFEST = "llmux-manifest.json";

export interface S3StoreOptions {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Multipart part size; files up to this size go in one PUT. S3 needs at least 5 MiB. */
  readonly partSizeBytes?: number;
  /** Transfers log their progress this often. */
  readonly progressIntervalMs?: number;
}

interface ManifestEntry {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

interface Manifest {
  readonly version: 1;
  readonly model: string;
  readonly files: readonly ManifestEntry[];
}

/**
 * CRIU images in an S3-compatible store (path-style, custom endpoint). Beyond the reference (spec 13.19):
 * files are streamed in bounded parts (multipart for large ones), sub-directories travel too, and a
 * manifest with sizes and SHA-256 is written last and checked on download, so a partial or corrupt upload
 * is never restored.
 */
export class S3CheckpointStore implements CheckpointStore {
  readonly #client: S3Client;
  readonly #opts: S3StoreOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #partSize: number;

  constructor(opts: S3StoreOptions, deps: { log: Logger; clock: Clock }) {
    this.#opts = opts;
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#partSize = opts.partSizeBytes ?? 64 * 1024 * 1024;
    this.#client = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region,
      forcePathStyle: true,
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
    });
  }

  async upload(model: string, dir: string): Promise<void> {
    const prefix = `${model}/images/`;
    const files = walk(dir);
    const total = files.reduce((n, f) => n + f.size, 0);
    const progress = this.#progress(`Uploading ${model}'s checkpoint`, total);
    try {
      // The manifest goes first out of the way: until the new one is written, no download trusts the prefix.
      await this.#deleteAll(prefix);
      const entries: ManifestEntry[] = [];
      for (const f of files) {
        entries.push({
          path: f.path,
          size: f.size,
          sha256: await this.#putFile(prefix + f.path, `${dir}/${f.path}`, progress.add),
        });
      }
      const manifest: Manifest = { version: 1, model, files: entries };
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#opts.bucket,
          Key: prefix + MANIFEST,
          Body: JSON.stringify(manifest, null, 1),
          ContentType: "application/json",
        }),
      );
    } catch (err) {
      throw this.#explain(err);
    } finally {
      progress.done();
    }
  }

  async download(model: string, dir: string): Promise<void> {
    const prefix = `${model}/images/`;
    let manifest: Manifest;
    try {
      const res = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#opts.bucket, Key: prefix + MANIFEST }),
      );
      manifest = JSON.parse(await res.Body!.transformToString());
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchKey") {
        throw new Error(
          `No checkpoint found in S3 for model '${model}' (no ${MANIFEST}: missing or incomplete upload)`,
        );
      }
      throw this.#explain(err);
    }
    const staging = `${dir}.partial-${crypto.randomUUID().slice(0, 8)}`;
    const total = manifest.files.reduce((n, f) => n + f.size, 0);
    const progress = this.#progress(`Downloading ${model}'s checkpoint`, total);
    try {
      for (const entry of manifest.files) {
        await this.#getFile(prefix + entry.path, `${staging}/${entry.path}`, entry, progress.add);
      }
      mkdirSync(dir, { recursive: true });
      for (const entry of manifest.files) {
        mkdirSync(dirname(`${dir}/${entry.path}`), { recursive: true });
        renameSync(`${staging}/${entry.path}`, `${dir}/${entry.path}`);
      }
    } catch (err) {
      throw this.#explain(err);
    } finally {
      rmSync(staging, { recursive: true, force: true });
      progress.done();
    }
  }

  async #deleteAll(prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#opts.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      // The manifest first, so a concurrent reader never sees a manifest over half-deleted files.
      keys.sort((a, b) => Number(b.Key.endsWith(MANIFEST)) - Number(a.Key.endsWith(MANIFEST)));
      if (keys.length > 0) {
        await this.#client.send(
          new DeleteObjectsCommand({ Bucket: this.#opts.bucket, Delete: { Objects: keys } }),
        );
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Streams one file up in parts of at most `partSize` bytes; returns its SHA-256. */
  async #putFile(key: string, path: string, onBytes: (n: number) => void): Promise<string> {
    const hash = createHash("sha256");
    using file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    const Bucket = this.#opts.bucket;
    if (size <= this.#partSize) {
      const body = await readChunk(file, size);
      hash.update(body);
      await this.#client.send(
        new PutObjectCommand({ Bucket, Key: key, Body: body, ContentLength: body.length }),
      );
      onBytes(body.length);
      return hash.digest("hex");
    }
    const { UploadId } = await this.#client.send(new CreateMultipartUploadCommand({ Bucket, Key: key }));
    try {
      const parts: Array<{ ETag: string; PartNumber: number }> = [];
      for (let PartNumber = 1, left = size; left > 0; PartNumber++) {
        const body = await readChunk(file, Math.min(this.#partSize, left));
        left -= body.length;
        hash.update(body);
        const { ETag } = await this.#client.send(
          new UploadPartCommand({
            Bucket,
            Key: key,
            UploadId,
            PartNumber,
            Body: body,
            ContentLength: body.length,
          }),
        );
        parts.push({ ETag: ETag!, PartNumber });
        onBytes(body.length);
      }
      await this.#client.send(
        new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (err) {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId })).catch(
        () => {},
      );
      throw err;
    }
    return hash.digest("hex");
  }

  /** Streams one object to `path`, checking size and SHA-256 against the manifest. */
  async #getFile(
    key: string,
    path: string,
    entry: ManifestEntry,
    onBytes: (n: number) => void,
  ): Promise<void> {
    const res = await this.#client.send(new GetObjectCommand({ Bucket: this.#opts.bucket, Key: key }));
    mkdirSync(dirname(path), { recursive: true });
    const hash = createHash("sha256");
    let size = 0;
    using file = await Deno.open(path, { write: true, create: true, truncate: true });
    for await (const chunk of res.Body!.transformToWebStream() as ReadableStream<Uint8Array>) {
      hash.update(chunk);
      size += chunk.length;
      onBytes(chunk.length);
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
    }
    const sha = hash.digest("hex");
    if (size !== entry.size || sha !== entry.sha256) {
      throw new Error(
        `corrupt object ${key}: got ${size} bytes sha256 ${
          sha.slice(0, 12)
        }…, manifest says ${entry.size} bytes ${entry.sha256.slice(0, 12)}…`,
      );
    }
  }

  #progress(what: string, total: number): { add: (n: number) => void; done: () => void } {
    let moved = 0;
    const started = this.#clock.now();
    let lastLog = started;
    const interval = this.#opts.progressIntervalMs ?? 5000;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    return {
      add: (n) => {
        moved += n;
        const now = this.#clock.now();
        if (now - lastLog >= interval) {
          lastLog = now;
          this.#log.info("{what}: {moved}/{total} MiB ({pct}%)", {
            what,
            moved: mib(moved),
            total: mib(total),
            pct: total === 0 ? 100 : Math.round((moved / total) * 100),
          });
        }
      },
      done: () => {
        const secs = (this.#clock.now() - started) / 1000;
        if (secs >= interval / 1000) {
          this.#log.info("{what}: {total} MiB in {secs}s", {
            what,
            total: mib(moved),
            secs: secs.toFixed(1),
          });
        }
      },
    };
  }

  #explain(err: unknown): Error {
    const name = (err as { name?: string }).name;
    if (name === "NoSuchBucket") {
      return new Error(`bucket '${this.#opts.bucket}' does not exist at ${this.#opts.endpoint}`, {
        cause: err,
      });
    }
    return err instanceof Error ? err : new Error(describe(err));
  }
}

/** Files under `dir`, recursively, as paths relative to it. */
function walk(dir: string, rel = ""): Array<{ path: string; size: number }> {
  const out: Array<{ path: string; size: number }> = [];
  for (const name of readdirSync(`${dir}/${rel}`).sort()) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const st = statSync(`${dir}/${path}`);
    if (st.isDirectory()) out.push(...walk(dir, path));
    else if (st.isFile()) out.push({ path, size: st.size });
  }
  return out;
}

async function readChunk(file: Deno.FsFile, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const n = await file.read(buf.subarray(off));
    if (n === null) break;
    off += n;
  }
  return off === length ? buf : buf.subarray(0, off);
}
