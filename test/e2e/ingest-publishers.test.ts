/**
 * Whole-server ingest with real, independent publishers (FFmpeg, GStreamer
 * rtmp2sink) and our own: every frame the server parsed into the stream's
 * frame queue matches what the publisher sent (same count, bytes, keyframe
 * flags and composition offsets; DTS as sent, made strictly increasing where
 * the publisher repeated one), and the stream is ACTIVE in the database
 * within 1 s of the publish command and ENDED within 2 s of the publisher
 * leaving (clean unpublish, or the process killed).
 *
 * "What was sent" for FFmpeg and GStreamer: the same deterministic pipeline
 * written to an FLV file and read back with ffprobe (packet bytes by MD5).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ffmpegPublishArgs, publishWithFfmpeg, type FfmpegPublishOptions } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { DEFAULT_FIXTURE, publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { isAvcPicture, readFlvTags } from '../../loadtest/publisher/flv-file.js';
import { readFileSync } from 'node:fs';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import {
  LifecycleWatch,
  metricValue,
  ofTrack,
  probePackets,
  publishRequestedAt,
  recordFrameQueue,
  timelineProblems,
  type ObservedFrame,
} from '../support/ingest-observer.js';
import { haveTool, runTool, spawnTracked, tempDir, toolGate } from '../support/tools.js';

/** Product requirements (issue 2, lifecycle). */
const ACTIVE_WITHIN_MS = 1000;
const ENDED_WITHIN_MS = 2000;

const FFMPEG_STREAM: Omit<FfmpegPublishOptions, 'url'> = { width: 640, height: 360, videoBitrate: '1M', durationSec: 3 };

/**
 * The DTS the server must produce from the DTS a publisher sent: as sent,
 * except that a repeat or small step back within a track is nudged to the
 * previous + 1 ms (src/stream/timestamp-repair.ts); pts moves with it.
 */
function repairedTimeline(sent: ObservedFrame[]): ObservedFrame[] {
  const last = { video: -Infinity, audio: -Infinity };
  return sent.map((frame) => {
    const dts = frame.dts > last[frame.track] ? frame.dts : last[frame.track] + 1;
    last[frame.track] = dts;
    return { ...frame, dts };
  });
}

/** Frame-by-frame comparison per track, with a message that names the first difference. */
function assertSameFrames(received: ObservedFrame[], sent: ObservedFrame[], who: string): void {
  for (const track of ['video', 'audio'] as const) {
    const got = ofTrack(received, track);
    const want = ofTrack(repairedTimeline(sent), track);
    assert.equal(got.length, want.length, `${who}: ${track} frames parsed ${got.length}, sent ${want.length}`);
    const firstDifference = got.findIndex((frame, i) => JSON.stringify(frame) !== JSON.stringify(want[i]));
    assert.equal(
      firstDifference,
      -1,
      `${who}: ${track} frame #${firstDifference} differs: parsed ${JSON.stringify(got[firstDifference])}, sent ${JSON.stringify(want[firstDifference])}`,
    );
  }
  assert.deepEqual(timelineProblems(received), [], `${who}: timeline`);
}

/**
 * Each publisher runs against both socket readers: the native reader thread (native/ingress-reader,
 * built by `npm test`) and the JavaScript fallback; they must hand the worker the same bytes.
 */
for (const reader of ['native', 'javascript'] as const) describe(`whole-server ingest: publishers (${reader} socket reader)`, () => {
  let db: TestDatabase;
  let nova: NovaFixture;
  let watch: LifecycleWatch;

  before(async () => {
    db = await openMemoryDatabase();
    // debug: the 'publish requested' line the lifecycle bound is measured from; no ABR ladder:
    // the transcoder would be a second reader of the frame queue this test reads (one consumer only)
    nova = await startNova({ database: db.database, env: { LOG_LEVEL: 'debug', TRANSCODE: 'off', RTMP_NATIVE_READER: reader === 'native' ? 'on' : 'off' } });
    watch = new LifecycleWatch(nova);
    const usesNative = nova.logs().some((line) => line.msg === 'RTMP sockets read by the native reader thread');
    assert.equal(usesNative, reader === 'native', 'the server reads sockets the way this suite asked');
  });
  after(async () => {
    watch?.close();
    await nova?.stop();
    await db?.dispose();
  });

  /** ACTIVE latency, measured from the publish command the server logged to the bus event sent after the database write. */
  async function assertActiveInTime(streamId: string): Promise<void> {
    const activeAt = await watch.started(streamId);
    const latency = activeAt - publishRequestedAt(nova, streamId);
    assert.ok(latency <= ACTIVE_WITHIN_MS, `ACTIVE ${latency} ms after publish`);
    assert.equal((await nova.stream(streamId)).status, 'ACTIVE');
  }

  async function assertEndedInTime(streamId: string, leftAt: number, reason: string): Promise<void> {
    const ended = await watch.ended(streamId);
    const latency = ended.at - leftAt;
    assert.ok(latency <= ENDED_WITHIN_MS, `ENDED ${latency} ms after the publisher left`);
    assert.equal(ended.reason, reason);
    const row = await nova.stream(streamId);
    assert.equal(row.status, 'ENDED');
    const startedEvents = watch.of(streamId).filter((e) => e.event.type === 'stream_started');
    assert.equal(startedEvents.length, 1, 'one session, one start');
  }

  it('FFmpeg (libx264 with B-frames + AAC): every frame as sent; ACTIVE in time; ENDED in time after it ends', toolGate('ffmpeg', haveTool('ffmpeg')), async () => {
    const reference = join(tempDir('nova-ffmpeg-ref-'), 'sent.flv');
    // The same pipeline into a file, without -re: x264 and FFmpeg's AAC encoder are deterministic.
    const written = await runTool('ffmpeg', ffmpegPublishArgs({ ...FFMPEG_STREAM, url: reference }).filter((a) => a !== '-re'), 60_000);
    assert.equal(written.code, 0, written.stderr);
    const sent = probePackets(reference);
    assert.ok(ofTrack(sent, 'video').some((f) => f.cts > 0), 'the reference has B-frames (composition offsets)');

    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ ...FFMPEG_STREAM, url: stream.publish_url });
    // Attach at once: a fast publisher may be done before a slower poll would see the queue.
    const recordingAttached = recordFrameQueue(nova, stream.id);
    await assertActiveInTime(stream.id);
    const recording = await recordingAttached;
    assert.equal(await publisher.exited, 0, publisher.stderr());
    const leftAt = Date.now();
    await assertEndedInTime(stream.id, leftAt, 'unpublished');
    assert.equal(await recording.ended, 'unpublished');
    assert.equal(recording.videoConfigs, 1);
    assert.equal(recording.audioConfigs, 1);
    assertSameFrames(recording.frames, sent, 'FFmpeg');
  });

  it("FFmpeg stopped with 'q' (clean unpublish): ENDED within 2 s", toolGate('ffmpeg', haveTool('ffmpeg')), async () => {
    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ ...FFMPEG_STREAM, durationSec: undefined, url: stream.publish_url });
    await assertActiveInTime(stream.id);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await publisher.stop(), 0, publisher.stderr());
    await assertEndedInTime(stream.id, Date.now(), 'unpublished');
  });

  it('FFmpeg killed (SIGKILL: the socket just closes): ENDED within 2 s', toolGate('ffmpeg', haveTool('ffmpeg')), async () => {
    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ ...FFMPEG_STREAM, durationSec: undefined, url: stream.publish_url });
    await assertActiveInTime(stream.id);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const killedAt = Date.now();
    await publisher.kill();
    await assertEndedInTime(stream.id, killedAt, 'disconnected');
  });

  it('our synthetic publisher: every frame it sent, timestamps and composition offsets as it stamped them', async () => {
    const fixturePictures = readFlvTags(new Uint8Array(readFileSync(DEFAULT_FIXTURE))).filter((t) => t.type === 9 && isAvcPicture(t.body));
    const fixtureCts = fixturePictures.map((t) => (((t.body[2] << 16) | (t.body[3] << 8) | t.body[4]) << 8) >> 8);
    assert.ok(fixtureCts.some((cts) => cts > 0), 'the fixture has B-frames');

    const stream = await nova.createStream();
    const publishing = publishSynthetic({ url: stream.publish_url, bitrateBps: 3_000_000, durationMs: 3000 });
    // Attach at once: a fast publisher may be done before a slower poll would see the queue.
    const recordingAttached = recordFrameQueue(nova, stream.id);
    await assertActiveInTime(stream.id);
    const nativeSockets = 'nova_streaming_rtmp_native_reader_sockets';
    assert.equal(await metricValue(nova, nativeSockets), reader === 'native' ? 1 : 0, 'the gauge says who reads the socket');
    const recording = await recordingAttached;
    const result = await publishing;
    await assertEndedInTime(stream.id, Date.now(), 'unpublished');
    await recording.ended;
    assert.equal(await metricValue(nova, nativeSockets), 0, 'the socket was handed back');

    const video = ofTrack(recording.frames, 'video');
    const audio = ofTrack(recording.frames, 'audio');
    assert.equal(video.length, result.framesSent);
    assert.equal(audio.length, result.audioFramesSent);
    // The publisher stamps picture i at round(i × 1000/30) and loops the fixture's pictures with their offsets.
    video.forEach((frame, i) => {
      assert.equal(frame.dts, Math.round((i * 1000) / 30), `video dts #${i}`);
      assert.ok(Math.abs(frame.cts - fixtureCts[i % fixtureCts.length]!) <= 1, `video cts #${i}: ${frame.cts} vs ${fixtureCts[i % fixtureCts.length]}`);
    });
    assert.equal(video[0]?.keyframe, true);
    assert.deepEqual(timelineProblems(recording.frames), []);
    // 3 Mb/s for 3 s, padded with filler NAL units: the bytes arrived, not just the pictures.
    const videoBytes = video.reduce((n, f) => n + f.size, 0);
    assert.ok(videoBytes > 0.8 * (3_000_000 / 8) * 3, `video payload ${videoBytes} bytes`);
  });

  it('while media flows the worker reads the socket itself (native reader): the reader thread does not read it per batch', async () => {
    const reads = 'nova_streaming_rtmp_socket_reads_total';
    const before = { worker: await metricValue(nova, reads, { by: 'worker' }), reader: await metricValue(nova, reads, { by: 'reader_thread' }) };
    const stream = await nova.createStream();
    // no frame-queue reader: the worker looks when a part is due, as for a stream nobody transcodes
    await publishSynthetic({ url: stream.publish_url, bitrateBps: 6_000_000, durationMs: 4000 });
    await watch.ended(stream.id);
    const worker = (await metricValue(nova, reads, { by: 'worker' })) - before.worker;
    const readerThread = (await metricValue(nova, reads, { by: 'reader_thread' })) - before.reader;
    if (reader === 'javascript') {
      assert.equal(worker + readerThread, 0, 'no native reads when Node reads the sockets');
      return;
    }
    // 3 MB in 4 s: read at the worker's looks (~10 a second, several reads each); the reader thread
    // reads the handshake and commands, what came before the first look, and EOF
    assert.ok(worker >= 20, `reads by the worker: ${worker}`);
    assert.ok(readerThread < worker / 2, `reads by the reader thread: ${readerThread} (worker ${worker})`);
  });

  const gstPresent = haveTool('gst-launch-1.0', ['--version']) && haveTool('gst-inspect-1.0', ['rtmp2sink']) && haveTool('gst-inspect-1.0', ['avenc_aac']);
  it('GStreamer rtmp2sink (x264enc with B-frames + avenc_aac): every frame as sent; ACTIVE and ENDED in time', toolGate('gst-launch-1.0 with rtmp2sink and avenc_aac', gstPresent), async () => {
    // Constant quantizer: x264enc's bitrate control reacts to the live rtmp2sink's timing, so only
    // a fixed-QP encode is byte-identical between the file reference and the published stream.
    const pipeline = (sink: string[]): string[] => [
      '-q', '-e',
      'videotestsrc', 'num-buffers=90', '!', 'video/x-raw,width=640,height=360,framerate=30/1', '!',
      'x264enc', 'bframes=2', 'key-int-max=60', 'speed-preset=ultrafast', 'pass=quant', 'quantizer=28', '!', 'h264parse', '!',
      'flvmux', 'name=m', 'streamable=true', '!', ...sink,
      'audiotestsrc', 'num-buffers=100', '!', 'audioconvert', '!', 'avenc_aac', '!', 'aacparse', '!', 'm.',
    ];
    const reference = join(tempDir('nova-gst-ref-'), 'sent.flv');
    const written = await runTool('gst-launch-1.0', pipeline(['filesink', `location=${reference}`]), 60_000);
    assert.equal(written.code, 0, written.stderr);
    const sent = probePackets(reference);
    assert.ok(ofTrack(sent, 'video').some((f) => f.cts > 0), 'the reference has B-frames');

    const stream = await nova.createStream();
    const gst = spawnTracked('gst-launch-1.0', pipeline(['rtmp2sink', `location=${stream.publish_url}`]), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    gst.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => gst.once('exit', resolve));
    // Attach at once: a fast publisher may be done before a slower poll would see the queue.
    const recordingAttached = recordFrameQueue(nova, stream.id);
    await assertActiveInTime(stream.id);
    const recording = await recordingAttached;
    assert.equal(await exited, 0, stderr);
    const leftAt = Date.now();
    // rtmp2sink ends with FCUnpublish/deleteStream on EOS (-e).
    await assertEndedInTime(stream.id, leftAt, 'unpublished');
    await recording.ended;
    assertSameFrames(recording.frames, sent, 'GStreamer');
  });
});
