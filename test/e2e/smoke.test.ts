import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publishWithFfmpeg } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { startNova } from '../support/nova-server.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';

describe('fixture smoke', () => {
  it('ffmpeg publishes into the whole server', toolGate('ffmpeg', haveTool('ffmpeg')), async () => {
    const nova = await startNova();
    try {
      const stream = await nova.createStream();
      const publisher = publishWithFfmpeg({ url: stream.publish_url, durationSec: 4 });
      await waitFor('ACTIVE', 10_000, async () => (await nova.stream(stream.id)).status === 'ACTIVE');
      assert.equal(await publisher.exited, 0, publisher.stderr());
      await waitFor('ENDED', 5000, async () => (await nova.stream(stream.id)).status === 'ENDED');
    } finally {
      await nova.stop();
    }
  });
});
