/**
 * Bound parameters the query planner does not look through. With the SQLite better-sqlite3 13
 * bundles (3.54, built with SQLITE_ENABLE_STAT4, the likely reason: its planner may use a bound
 * value), a statement with `column = ?` and ORDER BY, GROUP BY or min()/max() was seen compiled
 * again at every execution (sqlite3Reprepare inside sqlite3_step, perf), and
 * better-sqlite3 then rebuilds its row constructor with Function(). LIST, STATUS and EXPUNGE paid
 * 40–90 µs each for it on the thread that serves every session (issue 31, perf under imaptest).
 * Inside a CAST the same plan is made once and kept (EXPLAIN QUERY PLAN unchanged: the index
 * search on the column); the values are already of that type, so nothing else changes.
 */
export const INT_PARAM = 'CAST(? AS INTEGER)';
export const TEXT_PARAM = 'CAST(? AS TEXT)';
