/**
 * Whether a failed statement failed because the database could not be
 * reached (down, restarting, refusing connections, a pool that timed out
 * connecting) rather than because of what it asked. Only such a failure is
 * worth retrying later: a constraint or syntax error would fail again.
 */
const UNREACHABLE_SYSCALL_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P (operator intervention: shutdown, restart) */
function unreachableSqlState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || code.startsWith('57P');
}

export function isDatabaseUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNREACHABLE_SYSCALL_CODES.has(code) || code === 'EOPENBREAKER') return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return unreachableSqlState(code);
  }
  // node-postgres reports a dropped or never-made connection in words only
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/i.test(err.message);
}
