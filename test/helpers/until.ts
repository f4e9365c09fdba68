/** Polls a synchronous `check` every 25 ms until it holds or `ms` pass; whether it held (the caller asserts). */
export async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}
