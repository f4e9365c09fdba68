/**
 * Worker-thread entry of the SQLite checkpointer (checkpointer.ts): its own connection to the
 * database file, which copies committed WAL frames into the database on request — PASSIVE, so it
 * never waits for, nor blocks, the gateway's readers and writers. The copy and its fsyncs happen on
 * this thread, not on the one that serves every session.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file } = workerData as { file: string };
const db = new Database(file, { fileMustExist: true });
// WAL is the main connection's setting (it persists in the file); this connection only checkpoints.
db.exec('PRAGMA wal_autocheckpoint = 0');

export type CheckpointReply = { ok: true; busy: number; log: number; checkpointed: number } | { ok: false; message: string };

parentPort!.on('message', (request: 'checkpoint' | 'close') => {
  if (request === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  let reply: CheckpointReply;
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    reply = { ok: true, busy: row?.busy ?? 0, log: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 };
  } catch (err) {
    reply = { ok: false, message: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
