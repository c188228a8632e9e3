/** Where checkpoint images persist beyond this host (S3-compatible object store). */
export interface CheckpointStore {
  /** Uploads every file under `dir` (sub-directories included) for `model`, replacing what was there. */
  upload(model: string, dir: string): Promise<void>;
  /** Downloads `model`'s images into `dir`, verifying each file; throws if none or corrupt. */
  download(model: string, dir: string): Promise<void>;
}
