import type { Clock } from "../core/clock.ts";
import { ConfigError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Config } from "../config/types.ts";
import type { CheckpointStore } from "./store.ts";

/**
 * The configured object store, if any. Keys come from the config or, when absent there, from
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (passed in as `env`). The AWS SDK is loaded only here: it reads
 * AWS_* variables as soon as it is imported, which a config without object store must not need.
 */
export async function openCheckpointStore(
  config: Config,
  env: { accessKeyId?: string; secretAccessKey?: string },
  deps: { log: Logger; clock: Clock },
): Promise<CheckpointStore | undefined> {
  const os = config.checkpoint?.object_store;
  if (!os) return undefined;
  const accessKeyId = os.access_key ?? env.accessKeyId;
  const secretAccessKey = os.secret_key ?? env.secretAccessKey;
  if (!accessKeyId || !secretAccessKey) {
    throw new ConfigError(
      "checkpoint.object_store",
      "needs access_key and secret_key, in the config or as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    );
  }
  const { S3CheckpointStore } = await import("./s3_store.ts");
  return new S3CheckpointStore({
    endpoint: os.endpoint,
    bucket: os.bucket,
    region: os.region,
    accessKeyId,
    secretAccessKey,
  }, deps);
}
