import { readFileSync } from 'node:fs';

export interface VideoConfigFixture {
  name: string;
  avcC: string;
  expected: { width: number; height: number; profile: string; levelIdc: number; frameRate: number; codecString: string };
}
export interface AudioConfigFixture {
  name: string;
  asc: string;
  expected: { profile: string; sampleRate: number; channels: number };
}

/** test/fixtures/demux/codec-configs.json, captured from FFmpeg by test/fixtures/demux/generate.ts */
export const codecConfigs = JSON.parse(
  readFileSync(new URL('../../fixtures/demux/codec-configs.json', import.meta.url), 'utf8'),
) as { video: VideoConfigFixture[]; audio: AudioConfigFixture[] };

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
}

/** Asserts the thrown value is our coded error and nothing else (for property tests). */
export function isNovaErrorWithCode(err: unknown, codes: readonly string[]): boolean {
  return err instanceof Error && err.name === 'NovaError' && codes.includes((err as { code?: string }).code ?? '');
}
