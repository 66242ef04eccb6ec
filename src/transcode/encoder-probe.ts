import { execFile } from 'node:child_process';
import { NovaError } from '../errors.js';
import type { Logger } from '../log.js';
import { ENCODER_CANDIDATES, isEncoderName, trialEncodeArgs, type EncoderName } from './encoder-flags.js';

export interface EncoderTrial {
  encoder: EncoderName;
  /** listed by `ffmpeg -encoders` */
  listed: boolean;
  /** the one-frame trial encode succeeded */
  ok: boolean;
  /** why not, first line of FFmpeg's error (empty when ok or not tried) */
  reason: string;
  durationMs: number;
}

export type EncoderProbeResult =
  | { available: true; encoder: EncoderName; ffmpegPath: string; overridden: boolean; trials: EncoderTrial[] }
  | { available: false; reason: string; ffmpegPath: string; trials: EncoderTrial[] };

export interface EncoderProbeOptions {
  /** default 'ffmpeg' (found on PATH) */
  ffmpegPath?: string;
  /** TRANSCODE_ENCODER: an encoder name to use instead of probing in order, or 'none' to disable transcoding */
  override?: string;
  /** per-command limit; a hardware driver that hangs must not hang start-up (default 10 s) */
  timeoutMs?: number;
  logger?: Logger;
}

interface CommandResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** ENOENT/EACCES: the binary itself is unusable */
  spawnError: NodeJS.ErrnoException | null;
}

function runFfmpeg(ffmpegPath: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(ffmpegPath, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) {
        resolve({ ok: true, stdout, stderr, spawnError: null });
        return;
      }
      const errno = err as NodeJS.ErrnoException;
      const spawnError = typeof errno.code === 'string' && errno.syscall?.startsWith('spawn') === true ? errno : null;
      resolve({ ok: false, stdout: stdout ?? '', stderr: stderr ?? '', spawnError });
    });
  });
}

/** Names from `ffmpeg -encoders` output (" V....D libx264  description"). */
export function parseEncoderList(output: string): Set<string> {
  const names = new Set<string>();
  for (const line of output.split('\n')) {
    const match = /^\s[VAS.][F.][S.][X.][B.][D.]\s+(\S+)/.exec(line);
    if (match !== null && match[1] !== '=') names.add(match[1]);
  }
  return names;
}

function firstErrorLine(stderr: string, fallback: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  // FFmpeg's last lines are the generic "Error initializing output stream"; the first says what the driver said.
  return lines.length > 0 ? lines[0].slice(0, 300) : fallback;
}

async function trial(ffmpegPath: string, encoder: EncoderName, listed: Set<string>, timeoutMs: number): Promise<EncoderTrial> {
  const started = performance.now();
  if (!listed.has(encoder)) {
    return { encoder, listed: false, ok: false, reason: 'not in ffmpeg -encoders', durationMs: 0 };
  }
  const result = await runFfmpeg(ffmpegPath, trialEncodeArgs(encoder), timeoutMs);
  const durationMs = Math.round(performance.now() - started);
  return {
    encoder,
    listed: true,
    ok: result.ok,
    reason: result.ok ? '' : firstErrorLine(result.stderr, 'trial encode failed or timed out'),
    durationMs,
  };
}

/**
 * Finds the H.264 encoder to use: lists FFmpeg's encoders, then tries a
 * one-frame encode with each candidate in order (NVENC, Quick Sync, VAAPI,
 * VideoToolbox, libx264). Being listed proves nothing (distribution builds
 * list NVENC everywhere); only a real encode does.
 *
 * Never throws for a missing or broken FFmpeg: the result says
 * `available: false` and the server runs passthrough-only (one warning).
 * An override naming no known encoder is a configuration error (throws
 * NOVA_ERR_CONFIG); an override whose trial fails is warned about and the
 * normal order is probed.
 */
export async function probeEncoders(options: EncoderProbeOptions = {}): Promise<EncoderProbeResult> {
  const ffmpegPath = options.ffmpegPath ?? 'ffmpeg';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const logger = options.logger;
  const override = options.override?.trim() ?? '';
  if (override !== '' && override !== 'none' && !isEncoderName(override)) {
    throw new NovaError(
      'NOVA_ERR_CONFIG',
      `invalid TRANSCODE_ENCODER=${JSON.stringify(override)}: expected none or one of ${ENCODER_CANDIDATES.join(', ')}`,
    );
  }
  if (override === 'none') {
    const reason = 'transcoding disabled by TRANSCODE_ENCODER=none';
    logger?.info({ reason }, 'transcoding off: passthrough only');
    return { available: false, reason, ffmpegPath, trials: [] };
  }

  const listing = await runFfmpeg(ffmpegPath, ['-hide_banner', '-nostdin', '-encoders'], timeoutMs);
  if (!listing.ok) {
    const reason = listing.spawnError !== null
      ? `ffmpeg not usable at ${JSON.stringify(ffmpegPath)}: ${listing.spawnError.code ?? listing.spawnError.message}`
      : `ffmpeg -encoders failed: ${firstErrorLine(listing.stderr, 'no output')}`;
    logger?.warn({ reason }, 'transcoding unavailable: passthrough only');
    return { available: false, reason, ffmpegPath, trials: [] };
  }
  const listed = parseEncoderList(listing.stdout);
  const trials: EncoderTrial[] = [];

  if (override !== '' && isEncoderName(override)) {
    const result = await trial(ffmpegPath, override, listed, timeoutMs);
    trials.push(result);
    if (result.ok) {
      logger?.info({ encoder: override }, 'transcode encoder set by TRANSCODE_ENCODER');
      return { available: true, encoder: override, ffmpegPath, overridden: true, trials };
    }
    logger?.warn({ encoder: override, reason: result.reason }, 'TRANSCODE_ENCODER does not work here; probing the others');
  }

  for (const encoder of ENCODER_CANDIDATES) {
    if (encoder === override) continue;
    const result = await trial(ffmpegPath, encoder, listed, timeoutMs);
    trials.push(result);
    if (result.ok) {
      logger?.info({ encoder, tried: trials.map((t) => `${t.encoder}:${t.ok ? 'ok' : t.listed ? 'failed' : 'absent'}`) }, 'transcode encoder selected');
      return { available: true, encoder, ffmpegPath, overridden: false, trials };
    }
  }
  const reason = 'no H.264 encoder passed its trial encode';
  logger?.warn({ reason, trials }, 'transcoding unavailable: passthrough only');
  return { available: false, reason, ffmpegPath, trials };
}
