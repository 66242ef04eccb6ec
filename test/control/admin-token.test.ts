import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { checkBearer, resolveAdminToken } from '../../src/control/auth/admin-token.js';
import { NovaError } from '../../src/errors.js';

function capturingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

describe('resolveAdminToken', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nova-admin-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('prefers ADMIN_TOKEN and writes nothing', async () => {
    const dataDir = await tempDir();
    const { log, lines } = capturingLog();
    assert.equal(await resolveAdminToken({ adminToken: 'configured-token-123', dataDir }, log), 'configured-token-123');
    await assert.rejects(stat(join(dataDir, 'admin-token')), { code: 'ENOENT' });
    assert.ok(!JSON.stringify(lines).includes('configured-token-123'));
  });

  it('generates a 0600 token once, shows it once, and reuses it', async () => {
    const dataDir = join(await tempDir(), 'nested', 'data');
    const first = capturingLog();
    const token = await resolveAdminToken({ adminToken: null, dataDir }, first.log);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const file = join(dataDir, 'admin-token');
    assert.equal((await readFile(file, 'utf8')).trim(), token);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const shown = first.lines.filter((l) => JSON.stringify(l).includes(token));
    assert.equal(shown.length, 1);
    assert.equal(shown[0]!.level, 40); // warn

    const second = capturingLog();
    assert.equal(await resolveAdminToken({ adminToken: null, dataDir }, second.log), token);
    assert.ok(!JSON.stringify(second.lines).includes(token), 'the stored token is not shown again');
  });

  it('refuses a stored token that is too short', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, 'admin-token'), 'short\n');
    await assert.rejects(resolveAdminToken({ adminToken: null, dataDir }, capturingLog().log), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CONFIG');
  });
});

describe('checkBearer', () => {
  const token = 'sEcReT-token-0123456789';
  it('accepts exactly the token', () => {
    assert.equal(checkBearer(`Bearer ${token}`, token), true);
    assert.equal(checkBearer(`bearer ${token}`, token), true);
    assert.equal(checkBearer(`Bearer  ${token} `, token), true);
  });
  it('rejects anything else', () => {
    for (const header of [undefined, null, '', token, `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(1)}`, 'Bearer ', `Bearer ${token.toUpperCase()}`, `Bearer ${token} extra`]) {
      assert.equal(checkBearer(header, token), false, String(header));
    }
  });
});
