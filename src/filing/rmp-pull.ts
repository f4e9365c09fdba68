/**
 * The reference record-server ingester: logs in over IMAP as the record-server account, and files
 * each new message into `DIR/<patient folder>/<tab>/<uid>.eml` from the clear route fields only. The
 * stored file is the message exactly as fetched (route fields + the still-sealed body). Progress is
 * kept in `DIR/.rmp-state.json` (UIDVALIDITY, last UID, Message-IDs filed), written after each item,
 * so a run resumes where the previous one stopped and never files an item twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { headerFields, patientFolderName, readClearRouting, tabOfRouting } from './route-headers.js';

export interface RmpPullOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  out: string;
  /** CA certificate (PEM) to verify the gateway's TLS certificate. */
  caPem?: string;
  /** Implicit TLS (IMAPS) instead of STARTTLS. */
  secure?: boolean;
  /** TLS server name when `host` is an IP address. */
  servername?: string;
  mailbox?: string;
}

export interface RmpPullResult {
  filed: Array<{ uid: number; file: string }>;
  /** Messages without route fields (e.g. unreadable): kept under `_unfiled/`. */
  unfiled: number;
  /** Already filed (same sealed Message-ID seen before). */
  skipped: number;
}

interface PullState {
  uidValidity: string;
  lastUid: number;
  filed: string[];
}

const STATE_FILE = '.rmp-state.json';

function readState(out: string): PullState | undefined {
  const file = path.join(out, STATE_FILE);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as PullState;
}

/** Write-then-rename: a crash leaves the old state or the new one, never half of either. */
function writeAtomic(file: string, data: Buffer | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export async function rmpPull(o: RmpPullOptions): Promise<RmpPullResult> {
  fs.mkdirSync(o.out, { recursive: true, mode: 0o700 });
  const client = new ImapFlow({
    host: o.host, port: o.port, secure: !!o.secure, ...(o.secure ? {} : { doSTARTTLS: true }),
    auth: { user: o.user, pass: o.password },
    tls: { ...(o.caPem ? { ca: o.caPem } : {}), ...(o.servername ? { servername: o.servername } : {}), minVersion: 'TLSv1.2' },
    logger: false,
  });
  const result: RmpPullResult = { filed: [], unfiled: 0, skipped: 0 };
  await client.connect();
  try {
    const lock = await client.getMailboxLock(o.mailbox ?? 'INBOX');
    try {
      const box = client.mailbox;
      if (!box) throw new Error('mailbox not selected');
      const uidValidity = String(box.uidValidity);
      const previous = readState(o.out);
      const state: PullState = previous && previous.uidValidity === uidValidity
        ? previous
        // New UIDVALIDITY: UIDs restart, but Message-IDs already filed still are never filed again.
        : { uidValidity, lastUid: 0, filed: previous?.filed ?? [] };
      const filed = new Set(state.filed);
      if (box.exists > 0) {
        for await (const msg of client.fetch(`${state.lastUid + 1}:*`, { uid: true, source: true }, { uid: true })) {
          if (msg.uid <= state.lastUid || !msg.source) continue; // `N:*` returns the last message even when N is past it
          const source = msg.source;
          const key = headerFields(source).get('message-id')?.[0] ?? `uid:${uidValidity}:${msg.uid}`;
          if (filed.has(key)) {
            result.skipped++;
          } else {
            const routing = readClearRouting(source);
            const rel = routing?.patient && routing.verified
              ? path.join(patientFolderName(routing.patient), tabOfRouting(routing), `${msg.uid}.eml`)
              : path.join('_unfiled', `${msg.uid}.eml`);
            if (!routing?.patient || !routing.verified) result.unfiled++;
            const file = path.join(o.out, rel);
            fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
            writeAtomic(file, source);
            filed.add(key);
            result.filed.push({ uid: msg.uid, file: rel });
          }
          state.lastUid = msg.uid;
          state.filed = [...filed];
          writeAtomic(path.join(o.out, STATE_FILE), JSON.stringify(state, null, 2));
        }
      }
      writeAtomic(path.join(o.out, STATE_FILE), JSON.stringify({ ...state, filed: [...filed] }, null, 2));
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
  return result;
}
