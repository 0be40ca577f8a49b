/**
 * SQLSTATE classes and driver codes that mean the session to the server is gone (terminated by an
 * administrator, a server shut down or restarted, a socket reset), as opposed to a statement the
 * server refused. Such a failure says nothing about the data being moved: it is a database
 * problem (exit 3), never an integrity one.
 */
const LOST_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '08007', '08P01']);
const LOST_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const LOST_MESSAGES = /Connection terminated|Client has encountered a connection error|terminating connection due to administrator command|server closed the connection unexpectedly|Client was closed and is not queryable|the database system is (shutting down|starting up|in recovery mode)/i;

/** Whether `error` (or one of its causes) says the database session was lost. */
export function isConnectionLoss(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'database-connection-lost') return true;
    if (typeof code === 'string' && (LOST_SQLSTATES.has(code) || LOST_SOCKET_CODES.has(code))) return true;
    if (current instanceof Error && LOST_MESSAGES.test(current.message)) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}
