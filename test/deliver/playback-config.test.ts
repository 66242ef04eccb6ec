/**
 * The two playback secrets of the old schemes (an HMAC key for /hls and
 * /dash, an HS256 secret for the WebSocket) are retired: a deployment that
 * still sets one meant to protect its streams, so the server refuses to start
 * and says what replaced it instead of serving them open.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { NovaError } from '../../src/errors.js';

test('PLAYBACK_SIGNING_KEY and WS_JWT_SECRET stop the start with a coded error naming what replaced them; unset or empty they are nothing', () => {
  for (const variable of ['PLAYBACK_SIGNING_KEY', 'WS_JWT_SECRET']) {
    assert.throws(
      () => loadConfig({ [variable]: 'a-secret-of-sixteen-or-more' }),
      (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CONFIG' && err.message.startsWith(`${variable} is retired`) && /playback-tokens/.test(err.message),
      variable,
    );
    assert.doesNotThrow(() => loadConfig({ [variable]: '' }), variable);
  }
  assert.doesNotThrow(() => loadConfig({}));
});
