import type { Command } from 'commander';
import { createContext } from '../context.js';
import { demoBanner } from '../init/demo.js';
import { initialise } from '../init/initialise.js';
import { startGateway } from '../server.js';
import { addConfigOption, configOf, out, withContext } from './common.js';

export function registerServeCommands(program: Command): void {
  addConfigOption(
    program.command('serve')
      .description('start the gateway: every listener of the config, until SIGTERM/SIGINT'),
  ).action(async (_opts, cmd: Command) => {
    const ctx = await createContext(configOf(cmd));
    const gw = await startGateway(ctx);
    if (gw.init.demoAccounts.length) process.stderr.write(demoBanner(ctx, gw.init.demoAccounts) + '\n');
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        ctx.logger.info({ signal }, 'shutting down');
        void gw.close().then(() => ctx.close()).then(resolve, (err: unknown) => {
          ctx.logger.error({ err: { message: (err as Error).message } }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  });

  addConfigOption(
    program.command('init')
      .description('prepare the data directory: schema, test CA (if missing), gateway TLS, filing key, demo practice if enabled'),
  ).action(async (_opts, cmd: Command) => {
    await withContext(cmd, async (ctx) => {
      const res = await initialise(ctx, { createCaIfMissing: true });
      out(`data directory ready: ${ctx.config.dataDir}`);
      if (res.createdCa) out(`test CA created in ${ctx.config.pki.caDir} (private key in ${ctx.config.pki.caDir}/private, never commit it)`);
      out(`filing key ${res.filingKey.fingerprint}`);
      if (res.demoAccounts.length) out(demoBanner(ctx, res.demoAccounts));
    });
  });
}
