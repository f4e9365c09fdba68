/**
 * Runs one job per key at a time: a caller arriving while the job for its key is running gets the
 * same promise instead of starting a second one (eight clients logging in at once as the same
 * account with the same password cost one Argon2, not eight).
 */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, job: () => Promise<T>): { result: Promise<T>; joined: boolean } {
    const current = this.running.get(key);
    if (current) return { result: current, joined: true };
    const result = job().finally(() => this.running.delete(key));
    this.running.set(key, result);
    return { result, joined: false };
  }
}
