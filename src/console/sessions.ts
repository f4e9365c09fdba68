/**
 * Console sessions, in memory only (a restart logs everyone out): a random id in an
 * `HttpOnly; Secure; SameSite=Strict` cookie, the doctor's address, and the accesses granted in this
 * session (access code or emergency) per patient. Sessions end after `idleMs` without a request,
 * `maxMs` after login at the latest, or at logout.
 */
import { randomBytes } from 'node:crypto';

export type Grant =
  | { basis: 'access-code'; accessCode: string }
  | { basis: 'emergency'; reason: string };

export interface ConsoleSession {
  id: string;
  doctor: string;
  via: 'password' | 'certificate';
  createdAt: number;
  lastSeen: number;
  grants: Map<string, Grant>;
}

export class SessionStore {
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(private readonly idleMs: number, private readonly maxMs: number, private readonly maxSessions = 10_000) {}

  create(doctor: string, via: ConsoleSession['via'], now = Date.now()): ConsoleSession {
    this.sweep(now);
    if (this.sessions.size >= this.maxSessions) {
      // The oldest session goes: memory stays bounded whatever a client does.
      const oldest = [...this.sessions.values()].sort((a, b) => a.lastSeen - b.lastSeen)[0];
      if (oldest) this.sessions.delete(oldest.id);
    }
    const s: ConsoleSession = { id: randomBytes(32).toString('base64url'), doctor, via, createdAt: now, lastSeen: now, grants: new Map() };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session of this id (its inactivity clock restarted), or undefined when unknown or expired. */
  touch(id: string | undefined, now = Date.now()): ConsoleSession | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (now - s.lastSeen > this.idleMs || now - s.createdAt > this.maxMs) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session of an account (disabled, or password changed elsewhere). */
  endAll(doctor: string): void {
    for (const s of this.sessions.values()) if (s.doctor === doctor) this.sessions.delete(s.id);
  }

  private sweep(now: number): void {
    for (const s of this.sessions.values()) {
      if (now - s.lastSeen > this.idleMs || now - s.createdAt > this.maxMs) this.sessions.delete(s.id);
    }
  }
}
