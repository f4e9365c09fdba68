import type { MedgateConfig } from '../../config/schema.js';
import type { QueueRecipient } from '../../store/types.js';

/** Next attempt after `attempts` failed ones: base·2^(attempts-1), capped, never past expiry. */
export function nextAttemptAt(queue: MedgateConfig['queue'], attempts: number, expiresAt: Date, now = new Date()): Date {
  const seconds = Math.min(queue.retryBaseSeconds * 2 ** Math.max(0, attempts - 1), queue.retryMaxSeconds);
  const next = new Date(now.getTime() + seconds * 1000);
  // One last attempt at expiry, so that the sender learns of the failure on time.
  return next > expiresAt && now < expiresAt ? expiresAt : next;
}

/**
 * RFC 3461 §4.1 NOTIFY. When the client gave none, medgate reports failures AND delays (the RFC
 * leaves the default to the MTA; practice software relies on hearing that a result is stuck).
 * NEVER suppresses everything; SUCCESS reports a delivery.
 */
export function shouldNotify(r: Pick<QueueRecipient, 'notify'>, event: 'failure' | 'delay' | 'success'): boolean {
  const notify = (r.notify ?? ['FAILURE', 'DELAY']).map((n) => n.toUpperCase());
  if (notify.includes('NEVER')) return false;
  return notify.includes(event.toUpperCase());
}
