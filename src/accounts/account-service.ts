import * as openpgp from 'openpgp';
import type { AuditTrail } from '../audit/audit-trail.js';
import {
  checkPasswordVerifier, decryptWithKey, encryptToKey, generatePgpKey, makePasswordVerifier, makeRecoveryKey,
  normalizeRecoveryKey, protectForExport, unwrapPgpKey, wrapPgpKey, wrongCredentials,
} from '../crypto/keys.js';
import { MedgateError } from '../errors.js';
import { readCertificateInfo, type TestCa } from '../pki/index.js';
import type { Account, AccountKind, DirectoryEntry, Store } from '../store/types.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { addressKey } from '../net/address-key.js';
import { AddressLoginLimit, loginRateLimited, type AddressLoginLimitOptions } from './address-login-limit.js';
import { LoginCache, type LoginCacheOptions } from './login-cache.js';
import { SingleFlight } from './single-flight.js';

export interface AccountServiceOptions {
  store: Store;
  audit: AuditTrail;
  /** The gateway's mail domain: accounts live under it. */
  domain: string;
  kdfMemoryExponent: number;
  minPasswordLength: number;
  /** Loads the CA lazily: only account creation needs it. */
  loadCa: () => Promise<TestCa>;
  /** The gateway custody key (application accounts' certificate logins). */
  loadCustodyKey: () => Promise<openpgp.PrivateKey>;
  /** Reuse of unlocked keys across logins (`security.loginCache`); absent = off. */
  loginCache?: LoginCacheOptions;
  /** Failed password logins per source address across accounts (`security.loginLimits`); absent = no limit. */
  loginLimits?: AddressLoginLimitOptions;
}

export interface NewAccountRequest {
  address: string;
  kind: AccountKind;
  password: string;
  rpps?: string;
  adeli?: string;
  /** Display name for application/RMP accounts (persons take theirs from the directory). */
  name?: string;
  actor?: string;
}

export interface CreatedAccount {
  account: Account;
  directoryEntry: DirectoryEntry;
  recoveryKey: string;
  certificatePem: string;
  certificateKeyPem: string;
}

export interface UnlockedAccount {
  account: Account;
  pgpKey: openpgp.PrivateKey;
  /** With `hold`: ends this session's hold on the cached key (call when the session ends). */
  release?: () => void;
}

/** Unwraps an account's private key with its password (Argon2): inline, or in the worker pool. */
export type KeyUnwrapper = (wrappedArmored: string, passphrase: string) => Promise<openpgp.PrivateKey>;

let dummy: Promise<string> | undefined;
const dummyVerifier = (): Promise<string> => (dummy ??= makePasswordVerifier('medgate timing equaliser'));

/** Why a full unlock refused: recorded in the audit trail, never told to the client. */
class UnlockRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

const ADDRESS = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/;

/** Accounts and their keys: creation, unlocking, password changes, disabling. */
export class AccountService {
  private unwrapper: KeyUnwrapper = unwrapPgpKey;
  private readonly loginCache: LoginCache;
  private readonly addressLimit: AddressLoginLimit | undefined;
  private readonly unlocking = new SingleFlight<openpgp.PrivateKey>();

  constructor(private readonly o: AccountServiceOptions) {
    this.loginCache = new LoginCache(o.loginCache ?? { ttlSeconds: 0, maxEntries: 0 });
    this.addressLimit = o.loginLimits ? new AddressLoginLimit(o.store.loginFailures, 'address', o.loginLimits) : undefined;
  }

  /**
   * A failure limit per address in another `scope` than logins (the console's access codes), kept
   * where login failures are, so that every node counts the same failures.
   */
  failureLimit(scope: string, limits: AddressLoginLimitOptions): AddressLoginLimit {
    return new AddressLoginLimit(this.o.store.loginFailures, scope, limits);
  }

  /**
   * Another unwrapper than unwrapPgpKey (whose Argon2 already runs off the event loop): the tests
   * count unwraps through it.
   */
  useKeyUnwrapper(unwrapper: KeyUnwrapper | undefined): void {
    this.unwrapper = unwrapper ?? unwrapPgpKey;
  }

  private checkPassword(password: string): void {
    if (password.length < this.o.minPasswordLength) {
      throw new MedgateError('PASSWORD_TOO_SHORT', `the password must have at least ${this.o.minPasswordLength} characters`);
    }
  }

  async create(req: NewAccountRequest): Promise<CreatedAccount> {
    const address = req.address.trim().toLowerCase();
    const actor = req.actor ?? 'operator';
    if (!ADDRESS.test(address)) throw new MedgateError('ADDRESS_INVALID', `"${req.address}" is not a valid mail address`);
    if (!address.endsWith('@' + this.o.domain)) {
      throw new MedgateError('ADDRESS_NOT_LOCAL', `${address} is not in this gateway's domain (${this.o.domain}); accounts can only be created for local addresses`);
    }
    if (await this.o.store.accounts.get(address)) throw new MedgateError('ACCOUNT_EXISTS', `an account for ${address} already exists`);
    this.checkPassword(req.password);
    if (req.rpps && !/^\d{11}$/.test(req.rpps)) throw new MedgateError('RPPS_INVALID', 'an RPPS number has 11 digits');
    if (req.adeli && !/^\d{9}$/.test(req.adeli)) throw new MedgateError('ADELI_INVALID', 'an ADELI number has 9 digits');
    if (req.kind === 'person' && !req.rpps && !req.adeli) {
      throw new MedgateError('IDENTIFIER_REQUIRED', 'a person account needs --rpps or --adeli');
    }

    const entry = await this.directoryEntryFor(address, req);
    const displayName = [entry.givenName, entry.familyName].filter(Boolean).join(' ') || req.name || address;
    const ca = await this.o.loadCa();
    const key = await generatePgpKey(displayName, address);
    const cert = await ca.issue({ profile: 'user', commonName: displayName, emails: [address] });
    const recoveryKey = makeRecoveryKey();
    const now = new Date().toISOString();
    const account: Account = {
      address,
      kind: req.kind,
      disabled: false,
      wrappedPgpKey: await wrapPgpKey(key.privateKey, req.password, this.o.kdfMemoryExponent),
      recoveryWrappedPgpKey: await wrapPgpKey(key.privateKey, recoveryKey, this.o.kdfMemoryExponent),
      pgpPublicKey: key.publicKeyArmored,
      pgpFingerprint: key.fingerprint,
      certificatePem: cert.certPem,
      // The certificate's private key is encrypted to the account's own OpenPGP key: one password unlocks both.
      wrappedCertKey: await encryptToKey(cert.keyPem, key.privateKey.toPublic()),
      passwordVerifier: await makePasswordVerifier(req.password),
      custodyWrappedPgpKey: req.kind === 'application'
        ? await encryptToKey(key.privateKey.armor(), (await this.o.loadCustodyKey()).toPublic())
        : null,
      wrappedMetaKey: null,
      createdAt: now,
      updatedAt: now,
    };
    const published: DirectoryEntry = { ...entry, status: 'active', certificatePem: cert.certPem, pgpPublicKey: key.publicKeyArmored, updatedAt: now };
    await this.o.store.accounts.create(account);
    await this.o.store.directory.upsert(published);
    await this.o.audit.record({
      actor, action: 'account.create', outcome: 'ok',
      details: { address, kind: req.kind, fingerprint: key.fingerprint, certSerial: cert.serial },
    });
    return { account, directoryEntry: published, recoveryKey, certificatePem: cert.certPem, certificateKeyPem: cert.keyPem };
  }

  /** The directory entry published for a new account, taking profession/specialty from the ANS entry when there is one. */
  private async directoryEntryFor(address: string, req: NewAccountRequest): Promise<DirectoryEntry> {
    const now = new Date().toISOString();
    const byAddress = await this.o.store.directory.get(address);
    const identifier = req.rpps ?? req.adeli;
    let known = byAddress;
    if (identifier) {
      if (byAddress?.idValue && byAddress.idValue !== identifier) {
        throw new MedgateError('IDENTIFIER_MISMATCH',
          `the directory lists ${address} with identifier ${byAddress.idValue}, not ${identifier}; check the number or the directory`);
      }
      known ??= (await this.o.store.directory.findByIdentifier(identifier)).find((e) => e.mailboxType === 'PER');
    }
    const base: DirectoryEntry = {
      address,
      mailboxType: req.kind === 'person' ? 'PER' : 'APP',
      idType: req.rpps ? 'RPPS' : req.adeli ? 'ADELI' : 'INTERNAL',
      idValue: identifier ?? null,
      nationalId: req.rpps ? '8' + req.rpps : req.adeli ? '0' + req.adeli : null,
      civility: null, familyName: null, givenName: null,
      professionCode: null, professionLabel: null, specialtyCode: null, specialtyLabel: null,
      organisation: req.name ?? null,
      status: 'active', certificatePem: null, pgpPublicKey: null, source: 'local', updatedAt: now,
    };
    if (!known || req.kind !== 'person') return byAddress ? { ...byAddress, source: 'local' } : base;
    return {
      ...base,
      civility: known.civility, familyName: known.familyName, givenName: known.givenName,
      professionCode: known.professionCode, professionLabel: known.professionLabel,
      specialtyCode: known.specialtyCode, specialtyLabel: known.specialtyLabel,
      organisation: known.organisation, idType: known.idType ?? base.idType, nationalId: known.nationalId ?? base.nationalId,
    };
  }

  /**
   * Checks the password and unlocks the account's private key for a session. Any failure (unknown
   * account, disabled, wrong password) is the same CREDENTIALS_WRONG to the caller; the audit trail
   * records the real reason.
   *
   * The account row is read at every login. With the login cache on, a login with the password that
   * last unlocked this account, while its stored credentials are unchanged and it is not disabled,
   * reuses the key without scrypt or Argon2. Anything else (a wrong password included) takes the
   * full path, and simultaneous full unlocks with the same password share one Argon2.
   */
  async unlock(addressInput: string, password: string, context: { via: string; remote?: string; hold?: boolean } = { via: 'cli' }): Promise<UnlockedAccount> {
    const address = addressInput.trim().toLowerCase();
    const { remote } = context;
    // What the per-address limit and the refusal audit count: an IPv6 client by its /64, as the
    // connection caps do (src/net/address-key.ts), so rotating addresses inside it buys no tries.
    const source = remote === undefined ? undefined : addressKey(remote);
    if (source !== undefined && (await this.addressLimit?.isRefused(source))) {
      // Refused before the password is looked at: the right password gets the same answer.
      await this.o.audit.refused({ actor: address, action: 'auth.login', outcome: 'refused', details: { via: context.via, remote, reason: 'address-rate-limited' }, source, reason: 'address-rate-limited' });
      throw loginRateLimited();
    }
    const account = await this.o.store.accounts.get(address);
    const fail = async (reason: string): Promise<never> => {
      const delayMs = source !== undefined && this.addressLimit ? await this.addressLimit.recordFailure(source) : 0;
      // Per source and window: a spray is audited in full for its first attempts, then counted.
      const event = { actor: address, action: 'auth.login', outcome: 'refused' as const, details: { via: context.via, remote, reason, ...(delayMs ? { delayMs } : {}) } };
      await (source !== undefined ? this.o.audit.refused({ ...event, source, reason }) : this.o.audit.record(event));
      if (delayMs) await sleep(delayMs);
      throw wrongCredentials();
    };
    if (!account) {
      // Same work as for a known account, so the answer time does not tell which addresses exist.
      await checkPasswordVerifier(password, await dummyVerifier());
      return fail('unknown-account');
    }
    const succeed = async (pgpKey: openpgp.PrivateKey, unlock: 'full' | 'cached' | 'joined'): Promise<UnlockedAccount> => {
      // Held before the audit write yields: a concurrent login cannot see the entry expire meanwhile.
      const release = context.hold ? this.loginCache.hold(address) : undefined;
      try {
        await this.o.audit.record({ actor: address, action: 'auth.login', outcome: 'ok', details: { via: context.via, remote: context.remote, unlock } });
      } catch (err) {
        release?.();
        throw err;
      }
      return release ? { account, pgpKey, release } : { account, pgpKey };
    };
    const tag = this.loginCache.tag(address, password);
    const credentials = LoginCache.credentialsOf(account);
    if (account.disabled) this.loginCache.evict(address); // disabled elsewhere (CLI process): drop the key now
    const cached = account.disabled ? undefined : this.loginCache.lookup(address, tag, credentials);
    if (cached) return succeed(cached, 'cached');
    // Also with the cache off (ttlSeconds 0): sharing a running unwrap keeps no key after it.
    const flight = this.unlocking.run(`${address}\0${tag.toString('hex')}\0${credentials}`, async () => {
      const pgpKey = await this.unlockFully(account, password);
      this.loginCache.remember(address, tag, credentials, pgpKey);
      return pgpKey;
    });
    const pgpKey = await flight.result.catch((err: unknown) => fail(err instanceof UnlockRefused ? err.reason : 'key-unwrap-failed'));
    // A joiner read its own row: it may have been disabled while the shared unlock ran.
    if (account.disabled) return fail('account-disabled');
    return succeed(pgpKey, flight.joined ? 'joined' : 'full');
  }

  /** scrypt verifier, disabled flag, then Argon2 unwrap: today's full cost, refusals as UnlockRefused. */
  private async unlockFully(account: Account, password: string): Promise<openpgp.PrivateKey> {
    if (!(await checkPasswordVerifier(password, account.passwordVerifier))) throw new UnlockRefused('wrong-password');
    if (account.disabled) throw new UnlockRefused('account-disabled');
    return this.unwrapper(account.wrappedPgpKey, password).catch(() => { throw new UnlockRefused('key-unwrap-failed'); });
  }

  /**
   * Client-certificate login of an application account: the presented certificate must be exactly
   * the one issued to the account (pinned by fingerprint; the caller has already validated its
   * chain and revocation). Unlocks the key held in custody. Failures are CREDENTIALS_WRONG.
   */
  async unlockByCertificate(certPem: string, context: { via: string; remote?: string }): Promise<UnlockedAccount> {
    const info = readCertificateInfo(certPem);
    const fail = async (address: string, reason: string): Promise<never> => {
      await this.o.audit.refused({ actor: address, action: 'auth.certificate', outcome: 'refused', details: { via: context.via, remote: context.remote, reason }, source: context.remote ?? 'local', reason });
      throw wrongCredentials();
    };
    const address = info.emails[0]?.toLowerCase();
    if (!address) return fail('unknown', 'certificate-without-address');
    const account = await this.o.store.accounts.get(address);
    if (!account) return fail(address, 'unknown-account');
    if (account.disabled) return fail(address, 'account-disabled');
    if (!account.custodyWrappedPgpKey) return fail(address, 'not-an-application-account');
    if (readCertificateInfo(account.certificatePem).fingerprint256 !== info.fingerprint256) return fail(address, 'certificate-not-issued-to-account');
    const armored = await decryptWithKey(account.custodyWrappedPgpKey, await this.o.loadCustodyKey());
    const pgpKey = await openpgp.readPrivateKey({ armoredKey: armored });
    await this.o.audit.record({ actor: address, action: 'auth.certificate', outcome: 'ok', details: { via: context.via, remote: context.remote } });
    return { account, pgpKey };
  }

  /** The certificate private key of an unlocked account (for client-certificate set-up). */
  async certificateKey(unlocked: UnlockedAccount): Promise<string> {
    return decryptWithKey(unlocked.account.wrappedCertKey, unlocked.pgpKey);
  }

  /**
   * Changes the password: re-wraps the private key under the new password. Mail is not re-encrypted
   * (it is encrypted to the key, not to the password). Either the current password or the recovery
   * key proves the right to do it; using the recovery key issues a new one.
   */
  async changePassword(addressInput: string, proof: { currentPassword?: string; recoveryKey?: string }, newPassword: string, actor = 'operator'): Promise<{ newRecoveryKey?: string }> {
    const address = addressInput.trim().toLowerCase();
    this.checkPassword(newPassword);
    const account = await this.o.store.accounts.get(address);
    let pgpKey: openpgp.PrivateKey;
    if (!account) throw wrongCredentials();
    if (proof.currentPassword !== undefined) {
      if (!(await checkPasswordVerifier(proof.currentPassword, account.passwordVerifier))) {
        await this.o.audit.record({ actor, action: 'account.passwd', outcome: 'refused', details: { address, reason: 'wrong-password' } });
        throw wrongCredentials();
      }
      pgpKey = await unwrapPgpKey(account.wrappedPgpKey, proof.currentPassword);
    } else if (proof.recoveryKey !== undefined) {
      pgpKey = await unwrapPgpKey(account.recoveryWrappedPgpKey, normalizeRecoveryKey(proof.recoveryKey)).catch(async (err) => {
        await this.o.audit.record({ actor, action: 'account.passwd', outcome: 'refused', details: { address, reason: 'wrong-recovery-key' } });
        throw err;
      });
    } else {
      throw new MedgateError('PROOF_REQUIRED', 'give the current password or the recovery key');
    }
    const changes: Partial<Account> = {
      wrappedPgpKey: await wrapPgpKey(pgpKey, newPassword, this.o.kdfMemoryExponent),
      passwordVerifier: await makePasswordVerifier(newPassword),
      updatedAt: new Date().toISOString(),
    };
    let newRecoveryKey: string | undefined;
    if (proof.recoveryKey !== undefined) {
      newRecoveryKey = makeRecoveryKey();
      changes.recoveryWrappedPgpKey = await wrapPgpKey(pgpKey, newRecoveryKey, this.o.kdfMemoryExponent);
    }
    await this.o.store.accounts.update(address, changes);
    // The old password must not keep unlocking from memory.
    this.loginCache.evict(address);
    await this.o.audit.record({ actor, action: 'account.passwd', outcome: 'ok', details: { address, via: proof.recoveryKey !== undefined ? 'recovery-key' : 'password' } });
    return { newRecoveryKey };
  }

  /**
   * The account's OpenPGP key for use outside medgate (GnuPG, another client). Public: no proof
   * needed. Secret: the account's password unlocks it (a failure is CREDENTIALS_WRONG, audited like a
   * login) and it is re-protected under `passphrase` in a form gpg 2.2 imports (protectForExport).
   * Audited as `account.export-key` with the address and whether the secret key left.
   */
  async exportKey(addressInput: string, o: { secret: false } | { secret: true; password: string; passphrase: string }, actor = 'operator'): Promise<openpgp.PublicKey | openpgp.PrivateKey> {
    const address = addressInput.trim().toLowerCase();
    const audit = (outcome: 'ok' | 'refused', reason?: string): Promise<unknown> =>
      this.o.audit.record({ actor, action: 'account.export-key', outcome, details: { address, secret: o.secret, ...(reason ? { reason } : {}) } });
    if (!o.secret) {
      const account = await this.o.store.accounts.get(address);
      if (!account) {
        await audit('refused', 'unknown-account');
        throw new MedgateError('ACCOUNT_UNKNOWN', `no account for ${address}`);
      }
      await audit('ok');
      return openpgp.readKey({ armoredKey: account.pgpPublicKey });
    }
    if (o.passphrase.length < this.o.minPasswordLength) {
      throw new MedgateError('PASSPHRASE_TOO_SHORT', `the passphrase of the exported key must have at least ${this.o.minPasswordLength} characters`);
    }
    let unlocked: UnlockedAccount;
    try {
      unlocked = await this.unlock(address, o.password, { via: 'cli-export-key' });
    } catch (err) {
      await audit('refused', err instanceof MedgateError ? err.code : 'unlock-failed');
      throw err;
    }
    const exported = await protectForExport(unlocked.pgpKey, o.passphrase);
    await audit('ok');
    return exported;
  }

  async setDisabled(addressInput: string, disabled: boolean, actor = 'operator'): Promise<void> {
    const address = addressInput.trim().toLowerCase();
    const ok = await this.o.store.accounts.update(address, { disabled, updatedAt: new Date().toISOString() });
    if (!ok) throw new MedgateError('ACCOUNT_UNKNOWN', `no account for ${address}`);
    this.loginCache.evict(address);
    // A disabled account may not send: its directory entry is suspended so peers refuse it too.
    await this.o.store.directory.setStatus(address, disabled ? 'suspended' : 'active');
    await this.o.audit.record({ actor, action: disabled ? 'account.disable' : 'account.enable', outcome: 'ok', details: { address } });
  }

  list(): Promise<Account[]> {
    return this.o.store.accounts.list();
  }

  get(address: string): Promise<Account | undefined> {
    return this.o.store.accounts.get(address);
  }
}
