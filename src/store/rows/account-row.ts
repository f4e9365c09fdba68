/** The `accounts` row as both stores read it, and its mapping to an Account. */
import type { Account } from '../types.js';
import { bool, type DbBool } from './columns.js';

export interface AccountRow {
  address: string; kind: string; disabled: DbBool; wrapped_pgp_key: string; recovery_wrapped_pgp_key: string;
  pgp_public_key: string; pgp_fingerprint: string; certificate_pem: string; wrapped_cert_key: string;
  password_verifier: string; custody_wrapped_pgp_key: string | null; wrapped_meta_key: string | null;
  created_at: string; updated_at: string;
}

/** The column of each Account field (create and update name their columns from it). */
export const ACCOUNT_COLUMN: Record<keyof Account, keyof AccountRow> = {
  address: 'address', kind: 'kind', disabled: 'disabled', wrappedPgpKey: 'wrapped_pgp_key',
  recoveryWrappedPgpKey: 'recovery_wrapped_pgp_key', pgpPublicKey: 'pgp_public_key', pgpFingerprint: 'pgp_fingerprint',
  certificatePem: 'certificate_pem', wrappedCertKey: 'wrapped_cert_key', passwordVerifier: 'password_verifier',
  custodyWrappedPgpKey: 'custody_wrapped_pgp_key', wrappedMetaKey: 'wrapped_meta_key', createdAt: 'created_at', updatedAt: 'updated_at',
};

export const accountFrom = (r: AccountRow): Account => ({
  address: r.address, kind: r.kind as Account['kind'], disabled: bool(r.disabled), wrappedPgpKey: r.wrapped_pgp_key,
  recoveryWrappedPgpKey: r.recovery_wrapped_pgp_key, pgpPublicKey: r.pgp_public_key, pgpFingerprint: r.pgp_fingerprint,
  certificatePem: r.certificate_pem, wrappedCertKey: r.wrapped_cert_key, passwordVerifier: r.password_verifier,
  custodyWrappedPgpKey: r.custody_wrapped_pgp_key, wrappedMetaKey: r.wrapped_meta_key, createdAt: r.created_at, updatedAt: r.updated_at,
});
