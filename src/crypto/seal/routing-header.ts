/** The routing header of medgate/1: a small JSON document a filing server reads without the content key. */
import { z } from 'zod';

const ymd = /^\d{4}-\d{2}-\d{2}$/;

export const RoutingHeader = z.object({
  v: z.literal(1),
  /** Original Message-ID, as written in the submitted message. */
  messageId: z.string(),
  patient: z
    .object({
      familyName: z.string(),
      givenName: z.string(),
      birthDate: z.string().regex(ymd),
      sex: z.string().optional(),
      ins: z.object({ value: z.string(), oid: z.string() }).optional(),
    })
    .nullable(),
  document: z.object({ type: z.string(), date: z.string(), title: z.string().optional() }),
  sender: z.object({
    address: z.string(),
    nationalId: z.string().nullable().optional(),
    professionCode: z.string().nullable().optional(),
    professionLabel: z.string().nullable().optional(),
    specialtyCode: z.string().nullable().optional(),
    role: z.string().nullable().optional(),
  }),
  recipients: z.array(z.string()),
  /** Each meaningful part (body, attachment, XDM entry) with its document type, for filing. */
  documents: z.array(z.object({ part: z.string(), type: z.string(), title: z.string().optional() })).optional(),
  /** Lower-case hex SHA-256 of the signed inner entity (or of the kept body for client-encrypted input). */
  contentDigest: z.string().regex(/^[0-9a-f]{64}$/),
  /** ISO 8601 instant of sealing. */
  sealedAt: z.string(),
});

export type RoutingHeader = z.infer<typeof RoutingHeader>;

/** What the caller of seal provides; the sealer adds v, contentDigest and sealedAt. */
export type RoutingInput = Omit<RoutingHeader, 'contentDigest' | 'sealedAt' | 'v'>;
