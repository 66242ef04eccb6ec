/**
 * Lookups by key that share database round trips: a key asked for while no lookup runs is
 * looked up at once, alone; keys asked for while one runs wait for it to end and then go
 * together in the next, one statement for all of them. An idle caller waits for nothing
 * more than its own query, and a burst costs a few statements instead of one per key.
 *
 * Why: a burst of N publishes arriving at once asked the database for N keys one after
 * another, each query a round trip (on the embedded database a turn of its single thread,
 * queued behind the stream starts' writes), which made admission as slow as N queries in a row.
 */
export class CoalescedLookup<K, V> {
  /** keys waiting for the next lookup, with their callers */
  #waiting = new Map<K, Array<{ resolve: (value: V | null) => void; reject: (err: unknown) => void }>>();
  #running = false;
  /** lookups run so far (for tests and diagnosis: a burst should take few) */
  lookups = 0;

  constructor(
    /** the values of the keys found (a key not found has no entry); a rejection fails every caller of the batch */
    private readonly lookup: (keys: K[]) => Promise<Map<K, V>>,
    /** the most keys one lookup carries (a statement's parameters stay bounded) */
    private readonly maxKeys = 1000,
  ) {}

  /** The key's value, or null when the lookup did not find it. */
  get(key: K): Promise<V | null> {
    return new Promise((resolve, reject) => {
      const callers = this.#waiting.get(key);
      if (callers !== undefined) callers.push({ resolve, reject });
      else this.#waiting.set(key, [{ resolve, reject }]);
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (this.#waiting.size > 0) {
      const batch = new Map<K, Array<{ resolve: (value: V | null) => void; reject: (err: unknown) => void }>>();
      for (const [key, callers] of this.#waiting) {
        batch.set(key, callers);
        this.#waiting.delete(key);
        if (batch.size >= this.maxKeys) break;
      }
      this.lookups++;
      try {
        const found = await this.lookup([...batch.keys()]);
        for (const [key, callers] of batch) for (const caller of callers) caller.resolve(found.get(key) ?? null);
      } catch (err) {
        for (const callers of batch.values()) for (const caller of callers) caller.reject(err);
      }
    }
    this.#running = false;
  }
}
