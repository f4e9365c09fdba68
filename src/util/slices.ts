/**
 * Bytes put through a synchronous pass (a cipher, a hash) per turn of the event loop: these run on
 * the thread that serves every session, and a 50 MB APPEND sealed in one call held it for over 100 ms.
 */
export const SLICE_BYTES = 1024 * 1024;

/** Calls `each` with `data` a SLICE_BYTES slice at a time, letting the event loop turn in between. */
export async function inSlices(data: Uint8Array, each: (slice: Uint8Array) => void): Promise<void> {
  for (let offset = 0; offset < data.length; offset += SLICE_BYTES) {
    if (offset > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    each(data.subarray(offset, offset + SLICE_BYTES));
  }
}
