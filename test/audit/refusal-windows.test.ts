import { beforeEach, expect, it } from 'vitest';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import type { AuditRecord } from '../../src/store/types.js';
import { contract } from '../store/contract/stores.js';

/**
 * Issue 27 item 5: how refusals are grouped into windows, on both real stores. A client counts by
 * what it cannot change at will (an IPv6 host by its /64, as the connection caps and login limits
 * count it), and the number of windows open at once is bounded, so a flood from many sources
 * writes a bounded number of chained records too. (The same over real sockets, from 100 IPv4
 * addresses: test/audit/refusal-flood.test.ts, test/console/refusal-flood.test.ts.)
 */
contract('audit refusal windows', (h) => {
  let audit: AuditTrail;
  beforeEach(() => {
    audit = new AuditTrail(h().store.audit);
    audit.configureRefusals({ individualPerWindow: 10, windowSeconds: 3600, maxOpenWindows: 20 });
  });

  const refuse = (source: string, reason = 'bad-password') =>
    audit.refused({ actor: 'someone@example.org', action: 'auth.login', outcome: 'refused', details: { remote: source }, source, reason });
  const records = async (): Promise<AuditRecord[]> => h().store.audit.list(0, 100_000);

  it('200 refusals from 200 addresses of one IPv6 /64: one window (10 records and one count), not 200 windows', async () => {
    for (let i = 1; i <= 200; i++) await refuse(`2001:db8:1:2:${i.toString(16)}:0:0:1`);
    await audit.flushRefusals();
    const all = await records();
    expect(all.filter((r) => !r.details?.aggregate)).toHaveLength(10);
    const aggregates = all.filter((r) => r.details?.aggregate);
    expect(aggregates).toHaveLength(1);
    expect(aggregates[0]!.details).toMatchObject({ remote: '2001:db8:1:2::/64', count: 190, recordedIndividually: 10 });
    // Individual records keep the full address in their details.
    expect(all.find((r) => !r.details?.aggregate)!.details).toMatchObject({ remote: '2001:db8:1:2:1:0:0:1' });
  });

  it('an IPv4 client and its IPv4-mapped form share a window; another /64 has its own', async () => {
    for (let i = 0; i < 8; i++) await refuse(i % 2 ? '::ffff:192.0.2.7' : '192.0.2.7');
    for (let i = 0; i < 8; i++) await refuse(`2001:db8:1:3::${i + 1}`);
    expect(audit.refusalCounts()).toMatchObject({ individual: 16, aggregated: 0, overflow: 0, openWindows: 2 });
    await refuse('192.0.2.7');
    await refuse('192.0.2.7');
    await refuse('::ffff:c000:207');
    expect(audit.refusalCounts()).toMatchObject({ individual: 18, aggregated: 1 });
  });

  it('beyond maxOpenWindows, further sources share one record per kind, naming how many they were; closed windows make room again', async () => {
    for (let i = 1; i <= 500; i++) await refuse(`198.51.${Math.floor(i / 250)}.${i % 250}`);
    // Each source of the second kind three times: counted three times, one source each.
    for (let round = 0; round < 3; round++) for (let i = 1; i <= 50; i++) await refuse(`203.0.113.${i}`, 'no-certificate');
    expect(audit.refusalCounts()).toMatchObject({ individual: 20, aggregated: 0, overflow: 630, openWindows: 22 });
    await audit.flushRefusals();
    const all = await records();
    // 20 sources one record each, one overflow record per kind: 22 records for 650 refusals.
    expect(all).toHaveLength(22);
    const byReason = (reason: string) => all.find((r) => r.details?.aggregate && r.details.reason === reason)!.details;
    expect(byReason('bad-password')).toMatchObject({ remote: 'other sources', count: 480, sources: 480, recordedIndividually: 0 });
    expect(byReason('no-certificate')).toMatchObject({ remote: 'other sources', count: 150, sources: 50 });
    expect(byReason('no-certificate').sourcesAtLeast).toBeUndefined();
    expect((byReason('no-certificate').someSources as string[]).length).toBe(10);
    // The windows closed: a new source is recorded one by one again.
    await refuse('192.0.2.99');
    expect(audit.refusalCounts()).toMatchObject({ individual: 21, openWindows: 1 });
  });

  it('an aggregate names the busiest sources and the most tried accounts, not the first seen: a brute force cannot hide behind a few earlier refusals', async () => {
    const doctor = 'paul.demo@cabinet.example.fr';
    const attempt = (source: string, actor: string) =>
      audit.refused({ actor, action: 'auth.login', outcome: 'refused', details: { remote: source }, source, reason: 'bad-password' });
    // maxOpenWindows sources (any refusals) hold every window.
    for (let i = 1; i <= 20; i++) await refuse(`198.51.100.${i}`, 'no-certificate');
    // Twelve sources try twelve accounts once each, then one more address guesses the doctor's password.
    for (let i = 1; i <= 12; i++) await attempt(`203.0.113.${i}`, `user${i}@example.org`);
    for (let i = 0; i < 300; i++) await attempt('192.0.2.66', doctor);
    // Behind one address, a spray of 15 accounts, then the doctor's: its own window names him too.
    await audit.flushRefusals(); // the windows above are written and closed: this address gets one of its own
    for (let i = 1; i <= 10; i++) await attempt('192.0.2.77', `first${i}@example.org`); // recorded one by one
    for (let i = 1; i <= 15; i++) await attempt('192.0.2.77', `sprayed${i}@example.org`);
    for (let i = 0; i < 100; i++) await attempt('192.0.2.77', doctor);
    await audit.flushRefusals();
    const all = await records();
    const overflow = all.find((r) => r.details?.aggregate && r.details.remote === 'other sources' && r.details.reason === 'bad-password')!.details;
    expect(overflow).toMatchObject({ count: 312, sources: 13 });
    expect((overflow.someSources as string[])[0]).toBe('192.0.2.66');
    expect((overflow.actors as string[])[0]).toBe(doctor);
    const own = all.find((r) => r.details?.aggregate && r.details.remote === '192.0.2.77')!.details;
    expect(own).toMatchObject({ count: 115, recordedIndividually: 10 });
    expect((own.actors as string[])[0]).toBe(doctor);
    expect(own.actors as string[]).toHaveLength(10);
  });
});
