import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NovaError } from '../../src/errors.js';
import { parseEncoderList, probeEncoders } from '../../src/transcode/encoder-probe.js';
import { scriptedFfmpeg } from './support/media.js';

const dir = mkdtempSync(join(tmpdir(), 'nova-probe-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('real ffmpeg here: hardware encoders are listed, their trials fail cleanly, libx264 is chosen', async () => {
  const result = await probeEncoders({ ffmpegPath: 'ffmpeg' });
  assert.equal(result.available, true);
  if (!result.available) return;
  assert.equal(result.encoder, 'libx264');
  assert.equal(result.overridden, false);
  assert.deepEqual(result.trials.map((t) => t.encoder), ['h264_nvenc', 'h264_qsv', 'h264_vaapi', 'h264_videotoolbox', 'libx264']);
  const byName = new Map(result.trials.map((t) => [t.encoder, t]));
  for (const hw of ['h264_nvenc', 'h264_qsv', 'h264_vaapi'] as const) {
    const trial = byName.get(hw);
    assert.ok(trial !== undefined);
    assert.equal(trial.listed, true, `${hw} is listed by this ffmpeg build`);
    assert.equal(trial.ok, false, `${hw} has no hardware here`);
    assert.notEqual(trial.reason, '');
  }
  assert.equal(byName.get('h264_videotoolbox')?.listed, false);
  assert.equal(byName.get('libx264')?.ok, true);
});

test('missing binary: available false with a reason, never a throw', async () => {
  const result = await probeEncoders({ ffmpegPath: join(dir, 'no-such-ffmpeg') });
  assert.equal(result.available, false);
  if (result.available) return;
  assert.match(result.reason, /not usable.*ENOENT/);
});

test('a binary that lists encoders but cannot encode: every trial fails → unavailable', async () => {
  const path = scriptedFfmpeg(dir, 
    'broken-ffmpeg',
    `case "$*" in *-encoders*) echo ' V....D libx264              libx264 H.264'; echo ' V....D h264_nvenc           NVENC'; exit 0;; esac\necho 'Cannot load libcuda.so.1' >&2; exit 1`,
  );
  const result = await probeEncoders({ ffmpegPath: path });
  assert.equal(result.available, false);
  assert.deepEqual(result.trials.filter((t) => t.listed).map((t) => [t.encoder, t.ok, t.reason]), [
    ['h264_nvenc', false, 'Cannot load libcuda.so.1'],
    ['libx264', false, 'Cannot load libcuda.so.1'],
  ]);
});

test('a hanging trial is cut off by the timeout', async () => {
  const path = scriptedFfmpeg(dir, 'hanging-ffmpeg', `case "$*" in *-encoders*) echo ' V....D libx264  x'; exit 0;; esac\nexec sleep 30`);
  const started = performance.now();
  const result = await probeEncoders({ ffmpegPath: path, timeoutMs: 300 });
  assert.equal(result.available, false);
  assert.ok(performance.now() - started < 5000);
});

test('TRANSCODE_ENCODER: validated, honoured, "none" disables', async () => {
  await assert.rejects(probeEncoders({ override: 'x265' }), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CONFIG');
  const forced = await probeEncoders({ override: 'libx264' });
  assert.ok(forced.available && forced.overridden && forced.encoder === 'libx264' && forced.trials.length === 1);
  const failing = await probeEncoders({ override: 'h264_nvenc' });
  assert.ok(failing.available && !failing.overridden && failing.encoder === 'libx264', 'falls back to the probe order');
  const off = await probeEncoders({ override: 'none' });
  assert.equal(off.available, false);
});

test('parseEncoderList reads the -encoders table, not its legend', () => {
  const names = parseEncoderList('Encoders:\n V..... = Video\n A..... = Audio\n ------\n V....D libx264  desc\n A....D aac  desc\n');
  assert.deepEqual([...names], ['libx264', 'aac']);
});
