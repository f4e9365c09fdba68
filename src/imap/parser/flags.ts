/** Flag spelling rules. */

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft', '\\Recent'];

/** System flags are case-insensitive; store them in their canonical spelling. */
export function normaliseFlag(flag: string): string {
  return SYSTEM_FLAGS.find((system) => system.toLowerCase() === flag.toLowerCase()) ?? flag;
}
