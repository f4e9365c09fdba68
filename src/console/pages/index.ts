/**
 * The console's routes, one file per route group (as src/imap/commands has one per command):
 * login (password or health-PKI certificate), patient search, the record by tabs, reading a
 * document, "send to me", consent by access code and emergency access, and the emergencies list.
 * Each handler reads through the filing and account services (never the store) and audits what was
 * seen: doctor, patient id, document id — never names, letters or content.
 */
import type { FastifyInstance } from 'fastify';
import { registerAccessPages } from './access.js';
import { registerDocumentPages } from './document.js';
import { registerEmergencyPages } from './emergencies.js';
import { registerLoginPages } from './login.js';
import { pageKit, type PagesDeps } from './page-kit.js';
import { registerRecordPages } from './record.js';
import { registerSearchPages } from './search.js';
import { registerSendPages } from './send.js';

export type { PagesDeps } from './page-kit.js';

export function registerPages(app: FastifyInstance, deps: PagesDeps): void {
  const kit = pageKit(app, deps);
  registerLoginPages(app, kit);
  registerSearchPages(app, kit);
  registerRecordPages(app, kit);
  registerDocumentPages(app, kit);
  registerSendPages(app, kit);
  registerAccessPages(app, kit);
  registerEmergencyPages(app, kit);
}
