/**
 * A transaction PostgreSQL aborted to break a deadlock (40P01) or a serialization failure (40001)
 * changed nothing: it is run again, a few times. Such deadlocks are rare by construction (mailbox
 * rows are locked in one order) but possible, e.g. a commit re-using a blob while an expunge in
 * the same mailbox collects it.
 */
const RETRIED = new Set(['40P01', '40001']);

export async function retryConflicts<T>(work: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= attempts || typeof code !== 'string' || !RETRIED.has(code)) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}
