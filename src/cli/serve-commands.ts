import type { Command } from 'commander';
import { describeLoose, findLoosePermissions, fixPermissions } from '../init/permissions.js';
import type { MedgateConfig } from '../config/schema.js';
import type { startGateway } from '../server.js';
import { MedgateError } from '../errors.js';
import { addConfigOption, configOf, out, withContext } from './common.js';

export function registerServeCommands(program: Command): void {
  addConfigOption(
    program.command('serve')
      .description('start the gateway: every listener of the config, until SIGTERM/SIGINT')
      .option('--fix-permissions', 'first make every file in the data directory 0600 and every folder 0700')
      .option('--wait-for-init <seconds>', 'PostgreSQL store: wait this long for the gateway keys `medgate init` makes', '60'),
  ).action(async (opts: { fixPermissions?: boolean; waitForInit: string }, cmd: Command) => {
    const waitForInit = Number(opts.waitForInit);
    if (!Number.isFinite(waitForInit) || waitForInit < 0) throw new MedgateError('USAGE', `--wait-for-init must be a number of seconds, got "${opts.waitForInit}"`);
    const config = await configOf(cmd);
    const { createContext } = await import('../context.js');
    const ctx = await createContext(config);
    const perms = checkPermissions(ctx.config, opts.fixPermissions === true);
    if (perms.fixed) ctx.logger.warn({ fixed: perms.fixed }, 'data directory permissions fixed (0600 files, 0700 folders)');
    else if (perms.warning) ctx.logger.warn({ loose: perms.count }, `${perms.warning}: run medgate serve --fix-permissions`);
    // Listened for from here: a stop asked for while the gateway starts (a service manager, the
    // `medgate` launcher forwarding it) is a clean shutdown once it has started, not a kill.
    let stopAsked: string | undefined;
    let onStop: ((signal: string) => void) | undefined;
    const asked = (signal: string) => (): void => { if (onStop) onStop(signal); else stopAsked ??= signal; };
    const onTerm = asked('SIGTERM');
    const onInt = asked('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    let gw: Awaited<ReturnType<typeof startGateway>>;
    try {
      // Loaded here: every listener's code is what `serve` needs and no other command does.
      gw = await (await import('../server.js')).startGateway(ctx, { waitForInitMs: waitForInit * 1000 });
    } catch (err) {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      // The store's connections (PostgreSQL pool, change feed) would keep the process alive.
      await ctx.close().catch(() => undefined);
      throw err;
    }
    if (gw.init.demoAccounts.length) process.stderr.write((await import('../init/demo.js')).demoBanner(ctx, gw.init.demoAccounts) + '\n');
    if (gw.ports.console !== undefined) {
      const host = ctx.config.listen.host === '0.0.0.0' || ctx.config.listen.host === '::' ? ctx.config.hostname : ctx.config.listen.host;
      process.stderr.write(`record console (doctors): https://${host.includes(':') ? `[${host}]` : host}:${gw.ports.console}/\n`);
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        ctx.logger.info({ signal }, 'shutting down');
        void gw.close().then(() => ctx.close()).then(resolve, (err: unknown) => {
          ctx.logger.error({ err: { message: (err as Error).message } }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        });
      };
      if (stopAsked) stop(stopAsked);
      else onStop = stop;
    });
  });

  addConfigOption(
    program.command('init')
      .description('prepare the data directory: schema, test CA (if missing), gateway TLS, filing key, demo practice if enabled')
      .option('--fix-permissions', 'make every file in the data directory 0600 and every folder 0700'),
  ).action(async (opts: { fixPermissions?: boolean }, cmd: Command) => {
    await withContext(cmd, async (ctx) => {
      const [{ initialise }, { demoBanner }] = await Promise.all([import('../init/initialise.js'), import('../init/demo.js')]);
      const res = await initialise(ctx, { createCaIfMissing: true });
      const perms = checkPermissions(ctx.config, opts.fixPermissions === true);
      if (perms.fixed) out(`permissions fixed: ${perms.fixed} file(s) or folder(s) in ${ctx.config.dataDir} (0600 files, 0700 folders)`);
      else if (perms.warning) process.stderr.write(`medgate: warning: ${perms.warning}: run medgate init --fix-permissions\n`);
      out(`data directory ready: ${ctx.config.dataDir}`);
      if (res.createdCa) out(`test CA created in ${ctx.config.pki.caDir} (private key in ${ctx.config.pki.caDir}/private, never commit it)`);
      out(`filing key ${res.filingKey.fingerprint}`);
      if (res.demoAccounts.length) out(demoBanner(ctx, res.demoAccounts));
    });
  });
}

/** Looks for group/other access under the data directory (a test CA kept inside it is left alone); fixes it if asked. */
function checkPermissions(config: MedgateConfig, fix: boolean): { count: number; fixed: number; warning?: string } {
  const loose = findLoosePermissions(config.dataDir, [config.pki.caDir]);
  if (!loose.length) return { count: 0, fixed: 0 };
  if (fix) return { count: loose.length, fixed: fixPermissions(config.dataDir, loose) };
  return { count: loose.length, fixed: 0, warning: describeLoose(config.dataDir, loose) };
}
