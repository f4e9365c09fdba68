/**
 * What differs between the dialects in a row, and nothing more: SQLite hands a boolean column back
 * as 0/1, PostgreSQL as a boolean. The row types below declare such a column `DbBool` and the
 * mappers read it with `bool`, so one mapper serves both stores.
 */
export type DbBool = number | boolean;

export const bool = (v: DbBool): boolean => v === true || (typeof v === 'number' && v !== 0);
