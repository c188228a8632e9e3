import S3rver from "s3rver";
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { assertEquals, assertRejects } from "../testing/assert.ts";
import { systemClock } from "../core/clock.ts";
import { logger } from "../core/log.ts";
import { MANIFEST, S3CheckpointStore } from "./s3_store.ts";

const PART = 5 * 1024 * 1024;

/** A real S3-compatible server (s3rver) on a free port, with one bucket. */
async function withS3(fn: (ctx: { endpoint: string; client: S3Client; dir: string }) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "llmux-s3-" });
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: `${dir}/s3` });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  await client.send(new CreateBucketCommand({ Bucket: "ckpt" }));
  try {
    await fn({ endpoint, client, dir });
  } finally {
    client.destroy();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function store(endpoint: string, bucket = "ckpt") {
  return new S3CheckpointStore(
    {
      endpoint,
      bucket,
      region: "us-east-1",
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      partSizeBytes: PART,
    },
    { log: logger("test"), clock: systemClock },
  );
}

/** An images dir: small files, a sub-directory (rootfs/), and a file that needs a multipart upload. */
async function makeImages(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>([
    ["inventory.img", new TextEncoder().encode("inventory")],
    ["cuda_pids", new TextEncoder().encode("123\n")],
    ["pages-1.img", crypto.getRandomValues(new Uint8Array(65536))],
    ["big.img", new Uint8Array(PART + 123_456).map((_, i) => i % 251)],
    ["rootfs/root/.triton/cache/kernel.bin", new TextEncoder().encode("kernel")],
  ]);
  for (const [path, data] of files) {
    await Deno.mkdir(`${dir}/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
    await Deno.writeFile(`${dir}/${path}`, data);
  }
  return files;
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "S3CheckpointStore uploads every file (sub-directories, multipart) and downloads into an empty dir",
  ...opts,
  fn: () =>
    withS3(async ({ endpoint, dir }) => {
      const files = await makeImages(`${dir}/src`);
      await store(endpoint).upload("m", `${dir}/src`);
      await store(endpoint).download("m", `${dir}/dst`);
      for (const [path, data] of files) assertEquals(await Deno.readFile(`${dir}/dst/${path}`), data, path);
    }),
});

Deno.test({
  name: "S3CheckpointStore refuses a corrupt object and leaves no partial files",
  ...opts,
  fn: () =>
    withS3(async ({ endpoint, client, dir }) => {
      await makeImages(`${dir}/src`);
      await store(endpoint).upload("m", `${dir}/src`);
      await client.send(
        new PutObjectCommand({ Bucket: "ckpt", Key: "m/images/pages-1.img", Body: new Uint8Array(65536) }),
      );
      await assertRejects(
        () => store(endpoint).download("m", `${dir}/dst`),
        Error,
        "corrupt object m/images/pages-1.img",
      );
      let entries: string[] = [];
      try {
        entries = [...Deno.readDirSync(`${dir}/dst`)].map((e) => e.name);
      } catch { /* not created */ }
      assertEquals(entries, []);
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes("partial")), []);
    }),
});

Deno.test({
  name: "S3CheckpointStore treats an upload without manifest as no checkpoint",
  ...opts,
  fn: () =>
    withS3(async ({ endpoint, client, dir }) => {
      await makeImages(`${dir}/src`);
      await store(endpoint).upload("m", `${dir}/src`);
      await client.send(new DeleteObjectCommand({ Bucket: "ckpt", Key: `m/images/${MANIFEST}` }));
      await assertRejects(
        () => store(endpoint).download("m", `${dir}/dst`),
        Error,
        "No checkpoint found in S3 for model 'm'",
      );
    }),
});

Deno.test({
  name: "S3CheckpointStore names a missing bucket",
  ...opts,
  fn: () =>
    withS3(async ({ endpoint, dir }) => {
      await makeImages(`${dir}/src`);
      await assertRejects(
        () => store(endpoint, "nope").upload("m", `${dir}/src`),
        Error,
        "bucket 'nope' does not exist",
      );
    }),
});
