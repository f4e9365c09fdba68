import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { MedgateError } from '../errors.js';
import type { AccountKind } from '../store/types.js';
import { addConfigOption, out, promptSecret, withContext } from './common.js';

const KINDS: AccountKind[] = ['person', 'application', 'rmp'];

export function registerUserCommands(program: Command): void {
  const user = addConfigOption(program.command('user').description('local accounts (persons, applications, record servers) and their keys'));

  addConfigOption(user.command('add <address>')
    .description('create an account: OpenPGP key pair, certificate from the CA, published to the directory')
    .requiredOption('--kind <kind>', 'person | application | rmp')
    .option('--rpps <number>', 'RPPS number (11 digits) of a person')
    .option('--adeli <number>', 'ADELI number (9 digits) of a person')
    .option('--name <name>', 'display name of an application or record-server account')
    .option('--password <password>', 'the password (otherwise prompted, or read from standard input)')
    .option('--cert-out <dir>', 'also write the account\'s certificate and private key there (client-certificate login)'))
    .action(async (address: string, opts: { kind: string; rpps?: string; adeli?: string; name?: string; password?: string; certOut?: string }, cmd: Command) => {
      if (!KINDS.includes(opts.kind as AccountKind)) throw new MedgateError('USAGE', `--kind must be one of ${KINDS.join(', ')}`);
      const password = opts.password ?? (await promptSecret(`password for ${address}: `));
      await withContext(cmd, async (ctx) => {
        const created = await ctx.accounts.create({ address, kind: opts.kind as AccountKind, password, rpps: opts.rpps, adeli: opts.adeli, name: opts.name });
        const e = created.directoryEntry;
        out(`account created: ${created.account.address} (${created.account.kind})`);
        if (e.professionLabel) out(`profession: ${e.professionLabel}${e.specialtyLabel ? ' — ' + e.specialtyLabel : ''}`);
        out(`OpenPGP key: ${created.account.pgpFingerprint}`);
        if (opts.certOut) {
          fs.mkdirSync(opts.certOut, { recursive: true, mode: 0o700 });
          const base = path.join(opts.certOut, created.account.address);
          fs.writeFileSync(`${base}.crt.pem`, created.certificatePem);
          fs.writeFileSync(`${base}.key.pem`, created.certificateKeyPem, { mode: 0o600 });
          fs.chmodSync(`${base}.key.pem`, 0o600); // mode only applies to a new file
          out(`certificate: ${base}.crt.pem  key: ${base}.key.pem`);
        }
        out(`recovery key (shown once, keep it offline): ${created.recoveryKey}`);
      });
    });

  addConfigOption(user.command('list').description('list the accounts').option('--json', 'print JSON'))
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const list = await ctx.accounts.list();
        const { SIGNED_FOR_OWNER_COMMENT } = await import('../crypto/keys.js');
        // What the stored account key says of itself (docs/operations.md, The account key): `unsigned`
        // ones are signed at their owner's next login. A hint for the operator; the login checks the signature.
        const accountKey = (a: { wrappedMetaKey: string | null }): string =>
          !a.wrappedMetaKey ? 'none' : a.wrappedMetaKey.includes(`Comment: ${SIGNED_FOR_OWNER_COMMENT}`) ? 'signed' : 'unsigned';
        if (opts.json) {
          out(JSON.stringify(list.map((a) => ({
            address: a.address, kind: a.kind, disabled: a.disabled, fingerprint: a.pgpFingerprint, accountKey: accountKey(a), createdAt: a.createdAt,
          })), null, 2));
          return;
        }
        for (const a of list) out(`${a.address.padEnd(44)} ${a.kind.padEnd(12)} ${a.disabled ? 'disabled' : 'active  '} ${a.pgpFingerprint} key:${accountKey(a)}`);
        const unsigned = list.filter((a) => accountKey(a) === 'unsigned').length;
        if (unsigned) out(`${unsigned} account key(s) stored unsigned: signed at their owners' next login; security.unsignedAccountKeys: refuse once none is left`);
      });
    });

  addConfigOption(user.command('passwd <address>')
    .description('change a password: re-wraps the private key (mail is not re-encrypted)')
    .option('--current <password>', 'the current password')
    .option('--recovery-key <key>', 'the recovery key instead of the current password (a new one is issued)')
    .option('--password <password>', 'the new password (otherwise prompted)'))
    .action(async (address: string, opts: { current?: string; recoveryKey?: string; password?: string }, cmd: Command) => {
      const current = opts.current ?? (opts.recoveryKey ? undefined : await promptSecret(`current password for ${address}: `));
      const next = opts.password ?? (await promptSecret(`new password for ${address}: `));
      await withContext(cmd, async (ctx) => {
        const res = await ctx.accounts.changePassword(address, { currentPassword: current, recoveryKey: opts.recoveryKey }, next);
        out(`password changed for ${address}`);
        if (res.newRecoveryKey) out(`new recovery key (shown once, keep it offline): ${res.newRecoveryKey}`);
      });
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    addConfigOption(user.command(`${name} <address>`).description(disabled
      ? 'disable an account: it can no longer log in or send, its directory entry is suspended'
      : 're-enable a disabled account'))
      .action(async (address: string, _o, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          await ctx.accounts.setDisabled(address, disabled);
          out(`${address} ${disabled ? 'disabled' : 'enabled'}`);
        });
      });
  }

  addConfigOption(user.command('export-key <address>')
    .description('write the account\'s OpenPGP key for GnuPG or another client: the public key, or with --secret the private key under a new passphrase (gpg 2.2 imports it)')
    .option('--secret', 'the private key (needs the account\'s password); otherwise the public key')
    .option('--armor', 'ASCII armour instead of binary')
    .option('--password <password>', 'the account\'s password (otherwise prompted, or the first line of standard input)')
    .option('--passphrase-file <file>', 'the passphrase protecting the exported key: first line of this file (otherwise prompted, or the next line of standard input)')
    .option('--out <file>', 'write to this new file (mode 0600) instead of standard output'))
    .action(async (address: string, opts: { secret?: boolean; armor?: boolean; password?: string; passphraseFile?: string; out?: string }, cmd: Command) => {
      if (!opts.secret && opts.passphraseFile) throw new MedgateError('USAGE', '--passphrase-file only applies with --secret');
      let request: { secret: false } | { secret: true; password: string; passphrase: string } = { secret: false };
      if (opts.secret) {
        const password = opts.password ?? (await promptSecret(`password for ${address}: `));
        const passphrase = opts.passphraseFile ? readPassphraseFile(opts.passphraseFile) : await askPassphrase();
        request = { secret: true, password, passphrase };
      }
      await withContext(cmd, async (ctx) => {
        const key = await ctx.accounts.exportKey(address, request);
        const data: string | Uint8Array = opts.armor ? key.armor() : key.write();
        if (opts.out) {
          fs.writeFileSync(opts.out, data, { mode: 0o600, flag: 'wx' });
          process.stderr.write(`${opts.secret ? 'secret' : 'public'} key of ${address} written to ${opts.out}\n`);
        } else {
          process.stdout.write(data);
        }
      });
    });

  addConfigOption(user.command('check <address>')
    .description('check a password (unlocks the key; nothing is changed)')
    .option('--password <password>', 'the password (otherwise prompted)'))
    .action(async (address: string, opts: { password?: string }, cmd: Command) => {
      const password = opts.password ?? (await promptSecret(`password for ${address}: `));
      await withContext(cmd, async (ctx) => {
        const u = await ctx.accounts.unlock(address, password, { via: 'cli' });
        out(`credentials valid; key ${u.account.pgpFingerprint} unlocked`);
      });
    });
}

/** The first line of a passphrase file (a trailing newline is not part of it). */
function readPassphraseFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MedgateError('PASSPHRASE_FILE_UNREADABLE', `cannot read the passphrase file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  if (!line) throw new MedgateError('PASSPHRASE_MISSING', `the passphrase file ${file} is empty`);
  return line;
}

/** On a terminal: asked twice (a typo would make the exported key unusable). Piped: the next line. */
async function askPassphrase(): Promise<string> {
  const missing = 'no passphrase given for the exported key: use --passphrase-file or give it on the next line of standard input';
  const first = await promptSecret('passphrase for the exported key: ', missing);
  if (process.stdin.isTTY && (await promptSecret('the same passphrase again: ', missing)) !== first) {
    throw new MedgateError('PASSPHRASE_MISMATCH', 'the two passphrases differ');
  }
  return first;
}
