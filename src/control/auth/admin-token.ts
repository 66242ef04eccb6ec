import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NovaError } from '../../errors.js';
import type { Logger } from '../../log.js';

const TOKEN_FILE = 'admin-token';
const MIN_TOKEN_LENGTH = 16;

/**
 * The bearer token for admin routes: ADMIN_TOKEN when set; else the one kept
 * in `${dataDir}/admin-token`; else a new random one, written there (0600)
 * and shown once in the log so the operator can copy it.
 */
export async function resolveAdminToken(config: { adminToken: string | null; dataDir: string }, log: Logger): Promise<string> {
  if (config.adminToken !== null) return config.adminToken;
  const file = join(config.dataDir, TOKEN_FILE);
  const stored = await readStoredToken(file);
  if (stored !== null) {
    log.info({ file }, 'admin token loaded from data directory');
    return stored;
  }
  await mkdir(config.dataDir, { recursive: true });
  const token = randomBytes(32).toString('base64url');
  try {
    // 'wx': never overwrite a token another process wrote in the meantime.
    await writeFile(file, token + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const raced = await readStoredToken(file);
      if (raced !== null) return raced;
    }
    throw err;
  }
  log.warn(
    { adminToken: token, file },
    'generated an admin API token (shown only this once; it is kept in the file named here). ' +
      'Send it as "Authorization: Bearer <token>", or set ADMIN_TOKEN to choose your own.',
  );
  return token;
}

async function readStoredToken(file: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new NovaError('NOVA_ERR_CONFIG', `admin token file ${file} holds fewer than ${MIN_TOKEN_LENGTH} characters`);
  }
  return token;
}

/**
 * Whether an Authorization header carries `Bearer <token>`. Both sides are
 * hashed first so the comparison is constant-time whatever their lengths.
 */
export function checkBearer(headerValue: string | undefined | null, token: string): boolean {
  if (!headerValue) return false;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(headerValue);
  if (!match) return false;
  const presented = createHash('sha256').update(match[1]!, 'utf8').digest();
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(presented, expected);
}
