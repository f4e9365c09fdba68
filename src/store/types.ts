/**
 * The storage interface. Every module reaches persistent state through these repositories, never
 * through tables. Everything is asynchronous so that the SQLite implementation (embedded default)
 * and a PostgreSQL implementation (shared by several nodes) are interchangeable.
 */

export type EntryStatus = 'active' | 'suspended' | 'revoked';
/** PER: a person's mailbox; ORG: an organisation's; APP: an application (lab/practice software, RMP). */
export type MailboxType = 'PER' | 'ORG' | 'APP';
export type IdentifierType = 'RPPS' | 'ADELI' | 'FINESS' | 'INTERNAL';

export interface DirectoryEntry {
  /** Lower-cased mail address: the key. */
  address: string;
  mailboxType: MailboxType;
  idType: IdentifierType | null;
  idValue: string | null;
  /** `8`+RPPS or `0`+ADELI for persons. */
  nationalId: string | null;
  civility: string | null;
  familyName: string | null;
  givenName: string | null;
  professionCode: string | null;
  professionLabel: string | null;
  specialtyCode: string | null;
  specialtyLabel: string | null;
  organisation: string | null;
  status: EntryStatus;
  certificatePem: string | null;
  pgpPublicKey: string | null;
  /** Where the entry came from: `ans` (national extraction), `local` (an account here), `peer:<domain>`. */
  source: string;
  updatedAt: string;
}

export type UpsertOutcome = 'inserted' | 'updated' | 'unchanged';

export interface DirectoryRepo {
  upsert(entry: DirectoryEntry): Promise<UpsertOutcome>;
  get(address: string): Promise<DirectoryEntry | undefined>;
  /** Matches idValue or nationalId. */
  findByIdentifier(identifier: string): Promise<DirectoryEntry[]>;
  list(filter?: { source?: string; domain?: string }): Promise<DirectoryEntry[]>;
  setStatus(address: string, status: EntryStatus): Promise<boolean>;
  /** Replaces the whole whitelist with these domains (lower-cased); returns counts. */
  replaceWhitelist(domains: string[]): Promise<{ added: number; removed: number; kept: number }>;
  isWhitelisted(domain: string): Promise<boolean>;
  listWhitelist(): Promise<string[]>;
}

export type AccountKind = 'person' | 'application' | 'rmp';

export interface Account {
  address: string;
  kind: AccountKind;
  disabled: boolean;
  /** Armored OpenPGP private key, encrypted (argon2 S2K) with the account's password. */
  wrappedPgpKey: string;
  /** The same private key encrypted with the one-time recovery key. */
  recoveryWrappedPgpKey: string;
  pgpPublicKey: string;
  pgpFingerprint: string;
  certificatePem: string;
  /** Certificate private key (PKCS#8), encrypted under the account's password. */
  wrappedCertKey: string;
  /** Argon2/scrypt-class password verifier (never the password). */
  passwordVerifier: string;
  createdAt: string;
  updatedAt: string;
}

export interface AccountRepo {
  create(account: Account): Promise<void>;
  get(address: string): Promise<Account | undefined>;
  list(): Promise<Account[]>;
  update(address: string, changes: Partial<Omit<Account, 'address' | 'createdAt'>>): Promise<boolean>;
}

export interface AuditRecord {
  seq: number;
  at: string;
  /** Who acted: an account address, `operator`, `system`, a peer domain. */
  actor: string;
  action: string;
  outcome: 'ok' | 'refused' | 'failed';
  messageId: string | null;
  /** Non-medical details: codes, addresses, counts. */
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditRepo {
  /**
   * Appends atomically: reads the last hash and writes the new record in one transaction, so that
   * two writers (two nodes) never fork the chain. `build` computes the record from the previous hash.
   */
  append(build: (prev: { seq: number; hash: string } | undefined) => AuditRecord): Promise<AuditRecord>;
  list(from?: number, limit?: number): Promise<AuditRecord[]>;
  count(): Promise<number>;
}

/** Small key/value table for gateway state (schema version, instance ids, demo flag). */
export interface SettingsRepo {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  directory: DirectoryRepo;
  accounts: AccountRepo;
  audit: AuditRepo;
  settings: SettingsRepo;
  /** Applies pending migrations; returns the schema version reached. */
  migrate(): Promise<number>;
  close(): Promise<void>;
}
