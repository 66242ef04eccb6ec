/**
 * An encoder whose keyframe interval is longer than the segment target makes
 * long segments whatever we do (segments start at keyframes). The streamer
 * must learn why: a log line, a metric and a warning in the stream's API status.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { startNova } from '../support/nova-server.js';
import { haveTool, toolGate, waitFor } from '../support/tools.js';

describe('keyframe interval longer than the segment target', () => {
  it('is reported in the log, in /metrics and in GET /api/v1/streams/:id', toolGate('ffmpeg', haveTool('ffmpeg')), async () => {
    const nova = await startNova({ env: { SEGMENT_TARGET_MS: '1000' } });
    let publisher: FfmpegPublisher | null = null;
    try {
      const stream = await nova.createStream();
      // A keyframe every 3 s (45 frames at 15 fps) against a 1 s target.
      publisher = publishWithFfmpeg({ url: stream.publish_url, width: 320, height: 240, fps: 15, gop: 45 });
      const warnings = await waitFor('the API warning', 20_000, async () => {
        const body = (await nova.stream(stream.id)) as { warnings?: Array<{ code: string; keyframe_interval_ms: number }> };
        return body.warnings && body.warnings.length > 0 ? body.warnings : undefined;
      });
      assert.equal(warnings[0]!.code, 'long_keyframe_interval');
      assert.ok(Math.abs(warnings[0]!.keyframe_interval_ms - 3000) <= 100, `interval ${warnings[0]!.keyframe_interval_ms} ms`);
      assert.ok(nova.logs().some((l) => l.level === 'warn' && l.keyframeIntervalMs !== undefined && l.stream === stream.id), 'a warn log line');
      const metrics = await (await fetch(`${nova.http}/metrics`)).text();
      const counted = /^nova_streaming_long_gop_total (\d+)/m.exec(metrics);
      assert.ok(counted && Number(counted[1]) >= 1, 'nova_streaming_long_gop_total counts it');
    } finally {
      await publisher?.stop();
      await nova.stop();
    }
  });
});
