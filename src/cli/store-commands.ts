import path from 'node:path';
import type { Command } from 'commander';
import { MedgateError } from '../errors.js';
import { classifyConnectFailure, endpointOf } from '../store/postgres/connect-failure.js';
import { parsePgUrl } from '../store/transfer/target-url.js';
import { addConfigOption, configOf, out, withContext } from './common.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `medgate store wait|migrate|purge`: the database under the gateway, for operators and containers. */
export function registerStoreCommands(program: Command): void {
  const store = addConfigOption(program.command('store').description('the database: wait for it, move an installation to PostgreSQL, purge what it freed'));

  addConfigOption(store.command('wait')
    .description('wait until the PostgreSQL store ($MEDGATE_DATABASE_URL or store.postgres.url) answers (container start-up)')
    .option('--timeout <seconds>', 'give up after this long', '60'))
    .action(async (opts: { timeout: string }, cmd: Command) => {
      const seconds = Number(opts.timeout);
      // NaN would never be passed: the wait would not end. Refused on SQLite too: the same
      // command line must not be accepted on one store and refused on the other.
      if (!Number.isFinite(seconds) || seconds < 0) throw new MedgateError('USAGE', `--timeout must be a number of seconds, got "${opts.timeout}"`);
      const config = await configOf(cmd);
      const { resolveStore } = await import('../store/index.js');
      const chosen = resolveStore(config);
      if (chosen.driver === 'sqlite') { out('store: SQLite, nothing to wait for'); return; }
      const at = endpointOf(chosen.url);
      const deadline = Date.now() + seconds * 1000;
      const { PgDatabase } = await import('../store/postgres/pg-database.js'); // the pg driver: only these commands need it
      let last = '';
      for (;;) {
        const db = new PgDatabase({ url: chosen.url, poolSize: 1, connectTimeoutMs: chosen.connectTimeoutSeconds * 1000 });
        try {
          await db.query('SELECT 1');
          out(`store: PostgreSQL at ${at.host}:${at.port}/${at.database} answers`);
          return;
        } catch (err) {
          const why = classifyConnectFailure(err, at, { timeoutSeconds: chosen.connectTimeoutSeconds, source: chosen.source });
          if (!why) throw err;
          // A wrong password or a missing database will not fix itself: say so now.
          if (why.kind === 'auth' || why.kind === 'no-database') throw why;
          if (why.message !== last) process.stderr.write(`medgate: waiting: ${why.message}\n`);
          last = why.message;
          if (Date.now() > deadline) {
            // The exit status of the last failure's kind: a script tells "not started" from "no answer".
            throw new MedgateError('STORE_WAIT_TIMEOUT', `gave up after ${opts.timeout} s: ${why.message}`, why.details, { exitCode: why.exitCode });
          }
        } finally {
          await db.close();
        }
        await sleep(500);
      }
    });

  addConfigOption(store.command('purge')
    .description('rewrite the database so that what it no longer holds (deleted rows, folder names as typed before they were pseudonymised) cannot be read from its files; run at a quiet time'))
    .action(async (_o, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        let report;
        try {
          report = await ctx.store.purgeFreedSpace();
        } catch (err) {
          await ctx.audit.record({ actor: 'operator', action: 'store.purge', outcome: 'failed', details: { code: (err as { code?: string }).code ?? 'INTERNAL' } });
          throw err;
        }
        if (report.fileBytes) {
          out(`store purged: SQLite file rewritten (${(report.fileBytes.before / 1e6).toFixed(1)} → ${(report.fileBytes.after / 1e6).toFixed(1)} MB), freed pages zeroed, write-ahead log emptied`);
        }
        if (report.tables) out(`store purged: PostgreSQL tables rewritten: ${report.tables.join(', ')}`);
        if (report.statistics === 'rewritten') out('store purged: PostgreSQL planner statistics (pg_statistic) rewritten');
        const partial = report.statistics === 'not-permitted';
        await ctx.audit.record({ actor: 'operator', action: 'store.purge', outcome: partial ? 'failed' : 'ok', details: { ...report } });
        if (partial) {
          // The rest is done; this part needs a role medgate's should not have.
          throw new MedgateError('STORE_STATISTICS_PURGE_PENDING',
            'pg_statistic was not rewritten: this role is neither a superuser nor the database\'s owner, and it may still sample old folder names; run VACUUM (FULL) pg_statistic as one of them');
        }
      });
    });

  addConfigOption(store.command('migrate')
    .description('copy this SQLite installation (database and sealed blobs) into an empty PostgreSQL database, then verify it')
    .requiredOption('--to <url>', 'target: postgres://USER:PASSWORD@HOST:PORT/DATABASE (an empty database)')
    .option('--no-progress', 'no progress bar'))
    .action(async (opts: { to: string; progress: boolean }, cmd: Command) => {
      const config = await configOf(cmd);
      const sqliteFile = path.resolve(config.dataDir, config.store.sqlite.file);
      const target = parsePgUrl(opts.to);
      out(`copying ${sqliteFile} into PostgreSQL ${target.host}:${target.port}/${target.database} (stop the gateway first: the copy is a snapshot)`);
      const [{ transferSqliteToPostgres }, { verifyPostgresAudit }] = await Promise.all([import('../store/transfer/sqlite-to-postgres.js'), import('../store/transfer/verify-audit.js')]);
      const report = await transferSqliteToPostgres({ sqliteFile, targetUrl: opts.to, progress: opts.progress, verifyAudit: verifyPostgresAudit });
      const rows = report.tables.reduce((s, t) => s + t.rows, 0);
      out(`verified: ${report.tables.length} tables, ${rows} rows, the same count in each as the source`);
      out(`verified: ${report.blobs} sealed blobs (${(report.blobBytes / 1e6).toFixed(1)} MB), each re-read from the target matches its sha256`);
      out(`verified: the audit chain of ${report.auditRecords} records links and hashes on the target, ending at ${report.auditHead.slice(0, 16)}… as on the source`);
      out('next: start medgate with MEDGATE_DATABASE_URL set to the target (or store.driver: postgres), and the same keysDir; keep the SQLite files as a back-up');
    });
}
