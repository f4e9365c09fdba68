import type { SMTPServer } from 'smtp-server';

/** The fields of smtp-server's connection that say whether it is between transactions. */
interface ConnectionState {
  session?: { envelope?: { mailFrom?: unknown } };
  _handlerPending?: boolean;
  _dataStream?: unknown;
  _upgrading?: boolean;
  send(code: number, text: string): void;
  close(): void;
}

/** How often, while closing, connections still in a transaction are looked at again. */
const RECHECK_MS = 100;

function idle(c: ConnectionState): boolean {
  return !c._handlerPending && !c._dataStream && !c._upgrading && !c.session?.envelope?.mailFrom;
}

/**
 * Stops an smtp-server without waiting for connections that have nothing under way. smtp-server's
 * own close waits up to 30 s for every open connection before its 421; a peer's pooled connection
 * sits idle for as long (src/smtp/outbound/send-to-peer.ts), so a graceful stop took 30 s. Here a
 * connection between transactions is told 421 and closed at once; one in a transaction (MAIL FROM
 * given, DATA being read or answered) finishes it and is closed as soon as it is idle again, within
 * smtp-server's close timeout (then it gets the 421 anyway).
 */
export function closeSmtpServer(server: SMTPServer): Promise<void> {
  const connections = (server as unknown as { connections: Set<ConnectionState> }).connections;
  let timer: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    for (const c of [...connections]) {
      if (!idle(c)) continue;
      c.send(421, 'Server shutting down, try again later');
      c.close();
    }
    timer = connections.size ? setTimeout(sweep, RECHECK_MS) : undefined;
    timer?.unref();
  };
  return new Promise<void>((resolve) => {
    server.close(() => {
      if (timer) clearTimeout(timer);
      resolve();
    });
    sweep();
  });
}
