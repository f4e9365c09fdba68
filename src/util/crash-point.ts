/**
 * Fault injection for crash tests: with `MEDGATE_TEST_CRASH_AT=<name>` in its environment, the
 * process kills itself (SIGKILL: no handler, no flush, as the OOM killer or a power cut would) when
 * it reaches the crash point of that name. Tests use it to prove that a decision is all or nothing
 * (test/imap/store-transactions.test.ts kills a MOVE between its copy and its expunge). Without the
 * variable it is one comparison. Crash points: `move:copied`, `append:committed` (an APPEND
 * committed, not yet answered), `delivery:before-also` (a delivery's placements written, its filing
 * rows or its record request's row not yet, in their one transaction: LocalDelivery.deliverWith and deliverAll),
 * `delivery:between-copies` (one copy of a submission written, the next — S/MIME, MSSanté — not yet,
 * in their one transaction: LocalDelivery.deliverTogether).
 */
export function crashPoint(name: string): void {
  if (process.env['MEDGATE_TEST_CRASH_AT'] === name) process.kill(process.pid, 'SIGKILL');
}
