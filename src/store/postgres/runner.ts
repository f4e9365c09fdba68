import type pg from 'pg';

/** What a repository needs to run a statement: the pool (through PgDatabase) or a transaction's client. */
export interface Runner {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}
