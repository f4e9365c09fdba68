import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { MedgateError } from '../../errors.js';

/** Transactions between two sweeps of old commit markers. */
const MARKER_SWEEP_EVERY = 1000;

/**
 * The connection pool of one node, and the one place PostgreSQL errors become medgate errors:
 * losing the server (refused, reset, shut down, timed out) is STORE_UNAVAILABLE, which SMTP answers
 * 451 4.3.0 and IMAP NO [UNAVAILABLE]. The pool reconnects by itself: each query takes a connection,
 * and a dead one is dropped, so service comes back when the server does, without a restart.
 */

// int8 (COUNT(*), BIGINT columns) as numbers: every value medgate stores fits in 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === 20 && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** SQLSTATE classes and Node errors that mean "the database is not reachable", not "the query is wrong". */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(08|53|57P)/.test(code)) return true; // connection exception, insufficient resources, operator intervention
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error|not queryable/i.test(message);
}

export function translatePgError(err: unknown): unknown {
  if (err instanceof MedgateError) return err;
  if (isUnavailable(err)) return new MedgateError('STORE_UNAVAILABLE', 'the database is unreachable; try again shortly', undefined, { cause: err });
  return err;
}

export interface PgDatabaseOptions {
  url: string;
  poolSize: number;
  /** How long a new connection may take (default 5 s). */
  connectTimeoutMs?: number;
  /** Logged once per outage, with a code and never a query. */
  onError?: (code: string) => void;
}

/**
 * Whether a failed COMMIT may nevertheless have committed: its answer was lost (connection reset,
 * server shut down or crashed, a timeout) rather than the server refusing it with an error of its own.
 */
function commitAnswerLost(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^(08|57P)/.test(code);
  return true;
}

/** A statement sent whose answer never came (connection lost, timed out): it may have committed. */
function answerMayBeLost(err: unknown): boolean {
  const message = typeof (err as { message?: unknown } | null)?.message === 'string' ? (err as { message: string }).message : '';
  return (isUnavailable(err) || /Query read timeout/i.test(message)) && commitAnswerLost(err);
}

/** STORE_UNAVAILABLE marked "the statement may have committed" (see untilAnswered). */
export function answerLost(err: unknown): MedgateError {
  return new MedgateError('STORE_UNAVAILABLE', 'the database connection was lost before it answered; try again shortly', { answerLost: true }, { cause: err });
}

export function isAnswerLost(err: unknown): boolean {
  return err instanceof MedgateError && err.code === 'STORE_UNAVAILABLE' && err.details?.['answerLost'] === true;
}

/** "cached plan must not change result type": a prepared `SELECT *` after another node's migration. */
const PLAN_CHANGED = '0A000';

export class PgDatabase {
  readonly pool: pg.Pool;
  /** Statements sent (round trips), for /metrics and capacity planning. Counted by `query` and `tx`. */
  roundTrips = 0;

  constructor(readonly options: PgDatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      // Queries never hang for ever on a half-dead connection.
      query_timeout: 60_000,
      keepAlive: true,
      types,
      application_name: 'medgate',
    });
    // An idle connection that dies (server restart) emits here; without a listener the process would exit.
    this.pool.on('error', (err) => options.onError?.((err as { code?: string }).code ?? 'PG_IDLE_CLIENT_ERROR'));
  }

  /** Bumped when a prepared statement's plan went stale: every statement is then prepared afresh. */
  private statementEpoch = 0;
  private readonly statementNames = new Map<string, string>();

  /**
   * A statement with parameters is prepared once per connection, under a name its text gives: the
   * server then skips parsing and planning on every later run. Measured on this machine, a simple
   * lookup costs the server 22 µs prepared against 45 µs unnamed, and the client 48 against 76
   * (the message path runs about twenty statements a message). Without parameters a statement
   * goes by the simple protocol (BEGIN, COMMIT, several statements at once) as before.
   */
  private statement(sql: string, params: unknown[]): string | pg.QueryConfig {
    if (!params.length) return sql;
    let name = this.statementNames.get(sql);
    if (!name) {
      name = `mg${this.statementEpoch}_${createHash('sha256').update(sql).digest('base64url').slice(0, 22)}`;
      // Bounded: statements built for a variable number of values (chunks, placements) vary.
      if (this.statementNames.size >= 2000) this.statementNames.clear();
      this.statementNames.set(sql, name);
    }
    return { name, text: sql, values: params };
  }

  private planChanged(err: unknown): boolean {
    if ((err as { code?: unknown })?.code !== PLAN_CHANGED) return false;
    this.statementEpoch++;
    this.statementNames.clear();
    return true;
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    this.roundTrips++;
    try {
      return await this.pool.query<R>(this.statement(sql, params) as pg.QueryConfig, params.length ? undefined : params);
    } catch (err) {
      if (this.planChanged(err)) {
        this.roundTrips++;
        try {
          return await this.pool.query<R>(this.statement(sql, params) as pg.QueryConfig, params.length ? undefined : params);
        } catch (again) {
          throw translatePgError(again);
        }
      }
      throw translatePgError(err);
    }
  }

  /**
   * One statement run on its own (autocommit) whose answer, if lost once it was sent, is flagged
   * (`isAnswerLost`): the statement may or may not have committed. Only for idempotent writes, which
   * `untilAnswered` then runs again until the server answers. A failure before sending (no
   * connection) is plain STORE_UNAVAILABLE: nothing was sent, nothing committed.
   */
  async queryFlaggingLostAnswer<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[], again = true): Promise<pg.QueryResult<R>> {
    const held = await this.checkout();
    this.roundTrips++;
    let stalePlan: unknown;
    try {
      return await held.client.query<R>(this.statement(sql, params) as pg.QueryConfig);
    } catch (err) {
      if (this.planChanged(err)) stalePlan = err; // refused by the server: prepared afresh below
      else if (answerMayBeLost(err)) {
        held.broken = true;
        throw answerLost(err);
      } else throw translatePgError(err);
    } finally {
      held.release();
    }
    if (again) return this.queryFlaggingLostAnswer<R>(sql, params, false);
    throw translatePgError(stalePlan);
  }

  /**
   * Runs an idempotent write until its outcome is known: after an answer lost (`isAnswerLost`), it
   * is run again, as often as needed while the server is away (up to commitOutcomeWaitMs), and its
   * second run either finds the first one's rows (committed) or writes them (committed now).
   */
  async untilAnswered<T>(work: () => Promise<T>): Promise<T> {
    const until = Date.now() + this.commitOutcomeWaitMs;
    let lost = false;
    let pause = 100;
    for (;;) {
      try {
        return await work();
      } catch (err) {
        const unavailable = err instanceof MedgateError && err.code === 'STORE_UNAVAILABLE';
        if (!isAnswerLost(err) && !(lost && unavailable)) throw err;
        if (!lost) this.options.onError?.('PG_ANSWER_LOST');
        lost = true;
        if (Date.now() + pause > until) {
          this.options.onError?.('PG_COMMIT_OUTCOME_UNKNOWN');
          throw err;
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 2000);
      }
    }
  }

  /**
   * A pooled connection with an 'error' listener for as long as it is checked out: the pool's own
   * listener is off then, and an 'error' (the server gone between two statements) with none would
   * end the process; the next statement fails instead. `release` destroys the connection when it
   * broke or the caller says so (a destroyed one keeps a listener that does nothing); twice is once.
   */
  private async checkout(onError?: (err: unknown) => void): Promise<{ client: pg.PoolClient; broken: boolean; release(destroy?: boolean): void }> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw translatePgError(err);
    }
    let released = false;
    const held = {
      client,
      broken: false,
      release: (destroy = false): void => {
        if (released) return;
        released = true;
        client.removeListener('error', listener);
        const dead = destroy || held.broken;
        if (dead) client.on('error', () => undefined);
        client.release(dead);
      },
    };
    const listener = (err: unknown): void => {
      held.broken = true;
      onError?.(err);
    };
    client.on('error', listener);
    return held;
  }

  async rows<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.query<R>(sql, params)).rows;
  }

  async one<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R | undefined> {
    return (await this.query<R>(sql, params)).rows[0];
  }

  /**
   * Runs `work` in one transaction (READ COMMITTED); rolls back on any error.
   *
   * Its outcome is always known to the caller: it resolves only if the transaction committed, and
   * rejects only if it did not. The transaction's id is read with BEGIN (same round trip); if the
   * connection dies while COMMIT is in flight, the answer is lost but PostgreSQL's commit log is
   * not: `txid_status` on a new connection says committed or aborted (see commitOutcome and
   * docs/operations.md, "When the connection dies at COMMIT").
   */
  async tx<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const held = await this.checkout((err) => this.options.onError?.((err as { code?: string }).code ?? 'PG_CLIENT_ERROR'));
    const client = held.client;
    // Every statement of the transaction is a round trip: count them on this client.
    const counted = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      this.roundTrips++;
      if (typeof args[0] === 'string' && Array.isArray(args[1]) && args.length === 2) return counted(this.statement(args[0], args[1]));
      return counted(...args);
    };
    const release = (destroy = false): void => {
      delete (client as { query?: unknown }).query;
      held.release(destroy);
    };
    let xid: string | undefined;
    let token: string | undefined;
    try {
      let result: T;
      try {
        // With the commit_markers table (migration 5), a random token written in the transaction
        // says afterwards whether it committed, whatever becomes of its id (commitOutcome).
        token = this.commitMarkers ? randomBytes(16).toString('hex') : undefined;
        const begun = (await client.query(token
          ? `BEGIN; SELECT txid_current()::text AS xid; INSERT INTO commit_markers (token) VALUES ('${token}')`
          : 'BEGIN; SELECT txid_current()::text AS xid')) as unknown as pg.QueryResult<{ xid: string }>[];
        xid = begun[1]?.rows[0]?.xid;
        if (token && ++this.markersSinceSweep >= MARKER_SWEEP_EVERY) this.sweepMarkers();
        result = await work(client);
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          held.broken = true;
        }
        // A stale prepared plan aborts this transaction once; the next one prepares afresh.
        this.planChanged(err);
        throw translatePgError(err);
      }
      try {
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // The server refused the COMMIT (a deferred constraint, a serialization failure): not committed.
        if (!commitAnswerLost(err)) {
          await client.query('ROLLBACK').catch(() => { held.broken = true; });
          throw translatePgError(err);
        }
        // The connection is dead: give its pool slot back before asking on a new one.
        release(true);
        const outcome = xid ? await this.commitOutcome(xid, token) : 'unknown';
        if (outcome === 'committed') {
          this.options.onError?.('PG_COMMIT_CONFIRMED');
          return result;
        }
        if (outcome === 'unknown') this.options.onError?.('PG_COMMIT_OUTCOME_UNKNOWN');
        throw translatePgError(err);
      }
    } finally {
      release();
    }
  }

  /** How long a transaction whose COMMIT lost its answer is looked up before giving up (tests shorten it). */
  commitOutcomeWaitMs = 5 * 60_000;

  /**
   * Whether transactions write a commit marker (the schema has `commit_markers`: PgStore turns it on
   * once migrated). Without it a lost COMMIT is judged by `txid_status` alone.
   */
  commitMarkers = false;
  private markersSinceSweep = 0;

  /** Markers older than an hour (far past commitOutcomeWaitMs) go, outside any transaction. */
  private sweepMarkers(): void {
    this.markersSinceSweep = 0;
    void this.pool.query("DELETE FROM commit_markers WHERE at < now() - interval '1 hour'").catch(() => undefined);
  }

  /**
   * Whether transaction `xid` committed, asked on a new connection until the server answers:
   * after a crash and restart, a transaction whose commit record was not flushed is `aborted`.
   * `in progress` (the old backend is still finishing, e.g. the network was cut, not the server)
   * is asked again. Within the wait, the answer is never a guess; past it, 'unknown' (logged).
   */
  async commitOutcome(xid: string, token?: string): Promise<'committed' | 'aborted' | 'unknown'> {
    const until = Date.now() + this.commitOutcomeWaitMs;
    let pause = 100;
    for (;;) {
      try {
        const row = (await this.pool.query<{ s: string | null }>('SELECT txid_status($1::bigint) AS s', [xid])).rows[0];
        if (token && row?.s !== 'in progress') {
          // The marker decides, not the id's status: after an immediate stop, an id whose records
          // never reached the disk can be given to another transaction, whose status the id then
          // reports. The marker is there if and only if this transaction committed.
          const marked = (await this.pool.query('SELECT 1 FROM commit_markers WHERE token = $1', [token])).rowCount;
          return marked ? 'committed' : 'aborted';
        }
        if (row?.s === 'committed') return 'committed';
        if (row?.s === 'aborted') return 'aborted';
        // null: the id is too old to be known, which a transaction of a moment ago cannot be.
        if (row?.s === null) return 'unknown';
      } catch (err) {
        // Still down: ask again. Any other error (an engine without txid_status) cannot tell.
        if (!isUnavailable(err)) return 'unknown';
      }
      if (Date.now() + pause > until) return 'unknown';
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 2000);
    }
  }

  /** A dedicated connection held outside the pool (LISTEN, migration lock). */
  async dedicated(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.options.url, connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000, keepAlive: true, types, application_name: 'medgate' });
    // Never without a listener: an 'error' with none ends the process. Callers add their own.
    client.on('error', (err) => this.options.onError?.((err as { code?: string }).code ?? 'PG_DEDICATED_ERROR'));
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw translatePgError(err);
    }
    return client;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
