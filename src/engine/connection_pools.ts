/**
 * One keep-alive pool per engine, so the pooled connections of a model can be closed before CRIU dumps it
 * (they would be dumped as established TCP and come back stale, engine spec 2.2).
 */
export class ConnectionPools {
  readonly #clients = new Map<string, Deno.HttpClient>();

  get(model: string): Deno.HttpClient {
    let client = this.#clients.get(model);
    if (!client) {
      client = Deno.createHttpClient({});
      this.#clients.set(model, client);
    }
    return client;
  }

  /** Closes the model's pooled connections; the next request opens fresh ones. */
  reset(model: string): void {
    this.#clients.get(model)?.close();
    this.#clients.delete(model);
  }

  closeAll(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
