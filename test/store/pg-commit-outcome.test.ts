/**
 * The connection dies at COMMIT: the transaction's outcome is still known exactly. A TCP relay
 * between medgate and a real PostgreSQL cuts both sides at the moment the COMMIT statement passes
 * (after handing it to the server, or before), so the answer is lost. `tx()` must resolve when the
 * row is there and reject (STORE_UNAVAILABLE, 451 upstream) when it is not: no third case. An
 * error on a checked-out connection between two statements must not end the process either.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { PgDatabase } from '../../src/store/postgres/pg-database.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const pg = testPostgres();
if (!pg) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

type Cut = 'none' | 'after-commit' | 'before-commit' | 'mid-transaction' | 'after-insert';

/** Forwards connections to PostgreSQL; armed, it cuts the one carrying the next COMMIT (or the next statement). */
class CuttingRelay {
  cut: Cut = 'none';
  cuts = 0;
  private readonly sockets = new Set<net.Socket>();
  private server!: net.Server;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.server = net.createServer((down) => {
      const up = net.connect(this.target, '127.0.0.1');
      this.sockets.add(down).add(up);
      const close = (): void => { down.destroy(); up.destroy(); };
      down.on('error', close); up.on('error', close);
      down.on('close', close); up.on('close', close);
      up.on('data', (b) => down.write(b));
      down.on('data', (b: Buffer) => {
        const isCommit = b[0] === 0x51 /* 'Q' */ && b.includes(Buffer.from('COMMIT\0'));
        const isQuery = b[0] === 0x51 || b[0] === 0x50 /* 'P' */ || b[0] === 0x42 /* 'B' */;
        // A statement on its own (autocommit): its Parse/Bind/Execute carry the INSERT.
        const isInsert = (b[0] === 0x50 || b[0] === 0x42) && b.includes(Buffer.from('INSERT INTO t'));
        if ((this.cut === 'after-commit' && isCommit) || (this.cut === 'after-insert' && isInsert)) {
          this.cut = 'none'; this.cuts++;
          // The server gets the whole COMMIT and commits; the client never hears it.
          up.write(b, () => setTimeout(close, 200));
          down.destroy();
          return;
        }
        if ((this.cut === 'before-commit' && isCommit) || (this.cut === 'mid-transaction' && isQuery)) {
          this.cut = 'none'; this.cuts++;
          close();
          return;
        }
        up.write(b);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

describe.skipIf(!pg)('PostgreSQL: the outcome of a transaction whose connection dies', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let relay: CuttingRelay;
  let db: PgDatabase;
  let direct: PgDatabase;
  const errors: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('commit');
    const url = new URL(database.url);
    relay = new CuttingRelay(Number(url.port));
    await relay.start();
    url.port = String(relay.port);
    db = new PgDatabase({ url: url.toString(), poolSize: 2, onError: (code) => errors.push(code) });
    direct = new PgDatabase({ url: database.url, poolSize: 1 });
    await direct.query('CREATE TABLE t (id TEXT PRIMARY KEY)');
  });
  afterAll(async () => {
    await db?.close();
    await direct?.close();
    await relay?.stop();
    await database?.drop();
  });

  const present = async (id: string): Promise<number> => (await direct.rows('SELECT id FROM t WHERE id = $1', [id])).length;

  it('COMMIT reached the server, its answer was lost: tx() resolves, and the row is there once', async () => {
    relay.cut = 'after-commit';
    const result = await db.tx(async (c) => {
      await c.query('INSERT INTO t (id) VALUES ($1)', ['after']);
      return 'done';
    });
    expect(relay.cuts).toBe(1);
    expect(result).toBe('done');
    expect(await present('after')).toBe(1);
    expect(errors).toContain('PG_COMMIT_CONFIRMED');
  });

  it('COMMIT never reached the server: tx() rejects STORE_UNAVAILABLE, and the row is absent', async () => {
    relay.cut = 'before-commit';
    await expect(db.tx(async (c) => {
      await c.query('INSERT INTO t (id) VALUES ($1)', ['before']);
    })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(relay.cuts).toBe(2);
    expect(await present('before')).toBe(0);
  });

  it('a statement on its own (autocommit) whose answer is lost: run again until answered, committed once, resolved', async () => {
    relay.cut = 'after-insert';
    const cutsBefore = relay.cuts;
    const sql = 'INSERT INTO t (id) VALUES ($1) ON CONFLICT (id) DO NOTHING RETURNING id';
    // Without untilAnswered the lost answer is flagged, not a plain "nothing was committed".
    await expect(db.queryFlaggingLostAnswer(sql, ['single-flagged'])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', details: { answerLost: true } });
    // The server got the whole statement: it commits, a moment after the client was cut off.
    for (const until = Date.now() + 5000; (await present('single-flagged')) === 0 && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    expect(await present('single-flagged')).toBe(1);
    relay.cut = 'after-insert';
    const res = await db.untilAnswered(() => db.queryFlaggingLostAnswer(sql, ['single']));
    expect(relay.cuts).toBe(cutsBefore + 2);
    // The second run found the first one's row: it committed once, and the caller knows it.
    expect(res.rowCount).toBe(0);
    expect(await present('single')).toBe(1);
    expect(errors).toContain('PG_ANSWER_LOST');
  });

  it('the connection dies between two statements while the work is busy: no crash, rejected, absent, and the pool serves again', async () => {
    const work = db.tx(async (c) => {
      await c.query('INSERT INTO t (id) VALUES ($1)', ['mid']);
      // The server goes away while this transaction does something else (sealing, a lookup): the
      // checked-out connection emits 'error' with no statement in flight.
      relay.cut = 'mid-transaction';
      await direct.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'");
      await new Promise((r) => setTimeout(r, 300));
      await c.query('INSERT INTO t (id) VALUES ($1)', ['mid-2']);
    });
    await expect(work).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    relay.cut = 'none';
    expect(await present('mid')).toBe(0);
    await db.tx(async (c) => { await c.query('INSERT INTO t (id) VALUES ($1)', ['later']); });
    expect(await present('later')).toBe(1);
  });

  describe('with commit markers (migration 5)', () => {
    beforeAll(async () => {
      await direct.query(PG_MIGRATIONS.find((m) => m.version === 5)!.sql);
      db.commitMarkers = true;
    });
    afterAll(() => { db.commitMarkers = false; });

    it('COMMIT reached the server, its answer was lost: the marker says committed; the row is there once', async () => {
      relay.cut = 'after-commit';
      const before = errors.filter((e) => e === 'PG_COMMIT_CONFIRMED').length;
      expect(await db.tx(async (c) => { await c.query('INSERT INTO t (id) VALUES ($1)', ['marked-after']); return 'done'; })).toBe('done');
      expect(await present('marked-after')).toBe(1);
      expect(errors.filter((e) => e === 'PG_COMMIT_CONFIRMED').length).toBe(before + 1);
    });

    it('COMMIT never reached the server: no marker, rejected, absent', async () => {
      relay.cut = 'before-commit';
      await expect(db.tx(async (c) => { await c.query('INSERT INTO t (id) VALUES ($1)', ['marked-before']); })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(await present('marked-before')).toBe(0);
    });

    it("an id whose status says committed is not trusted without the transaction's marker (after a crash the id may be another transaction's)", async () => {
      relay.cut = 'none';
      // A committed transaction's id, standing for an id reused after an immediate stop.
      const xid = (await direct.rows<{ xid: string }>('SELECT txid_current()::text AS xid'))[0]!.xid;
      expect(await db.commitOutcome(xid)).toBe('committed'); // the id alone says committed
      expect(await db.commitOutcome(xid, 'a-token-no-transaction-wrote')).toBe('aborted');
    });
  });

  it('a store opened and migrated as the gateway opens it writes a commit marker with each transaction', async () => {
    const fresh = await createTestDatabase('markers');
    const store = await PgStore.open({ url: fresh.url, nodeId: 'markers-test', poolSize: 2 });
    const check = new PgDatabase({ url: fresh.url, poolSize: 1 });
    try {
      await store.migrate();
      const before = Number((await check.rows<{ n: string }>('SELECT COUNT(*) AS n FROM commit_markers'))[0]!.n);
      await store.write(async (tx) => { await tx.mail.createMailbox('a@markers.test', 'INBOX'); });
      expect(Number((await check.rows<{ n: string }>('SELECT COUNT(*) AS n FROM commit_markers'))[0]!.n)).toBe(before + 1);
    } finally {
      await check.close();
      await store.close();
      await fresh.drop();
    }
  });
});
