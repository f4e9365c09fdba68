import fs from 'node:fs';
import path from 'node:path';

/** Modes medgate gives what it creates under the data directory (docs/operations.md, "Where data lives"). */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;
/**
 * The umask every medgate process runs with: whatever the operator's umask, what it creates (SQLite
 * database, WAL and SHM, blobs, spool, keys, TLS files) is owner-only. An explicit chmod (the test
 * CA's public `ca.pem` and CRL) still opens what must be public.
 */
export const PROCESS_UMASK = 0o077;

export interface LooseEntry {
  /** Relative to the data directory (`.` for the directory itself). */
  path: string;
  kind: 'file' | 'directory';
  mode: number;
}

/**
 * Files and directories under `dataDir` that group or others can access (any of the 0o077 bits),
 * the directory itself included. Symbolic links are neither followed nor reported; `exclude`
 * (e.g. a test CA kept inside the data directory) is skipped with everything below it.
 */
export function findLoosePermissions(dataDir: string, exclude: string[] = []): LooseEntry[] {
  const loose: LooseEntry[] = [];
  const skipped = new Set(exclude.map((p) => path.resolve(p)));
  const visit = (abs: string): void => {
    if (skipped.has(abs)) return;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      return; // removed meanwhile (a spool file): nothing to check
    }
    if (st.isSymbolicLink()) return;
    const rel = path.relative(dataDir, abs) || '.';
    if (st.isDirectory()) {
      if (st.mode & 0o077) loose.push({ path: rel, kind: 'directory', mode: st.mode & 0o7777 });
      let names: string[] = [];
      try {
        names = fs.readdirSync(abs);
      } catch {
        return;
      }
      for (const name of names) visit(path.join(abs, name));
    } else if (st.isFile() && st.mode & 0o077) {
      loose.push({ path: rel, kind: 'file', mode: st.mode & 0o7777 });
    }
  };
  if (fs.existsSync(dataDir)) visit(path.resolve(dataDir));
  return loose;
}

/** chmods each entry to 0600 (files) or 0700 (directories); returns how many were changed. */
export function fixPermissions(dataDir: string, entries: LooseEntry[]): number {
  let fixed = 0;
  for (const e of entries) {
    try {
      fs.chmodSync(path.join(dataDir, e.path), e.kind === 'directory' ? DIR_MODE : FILE_MODE);
      fixed++;
    } catch {
      // gone meanwhile
    }
  }
  return fixed;
}

/** One line for an operator: how many, the first few with their modes. Paths are file names, never content. */
export function describeLoose(dataDir: string, entries: LooseEntry[]): string {
  const shown = entries.slice(0, 5).map((e) => `${e.path} ${e.mode.toString(8).padStart(4, '0')}`).join(', ');
  const more = entries.length > 5 ? `, and ${entries.length - 5} more` : '';
  return `${entries.length} file(s) or folder(s) in ${dataDir} are open to group or others (${shown}${more}); expected 0600 files and 0700 folders`;
}
