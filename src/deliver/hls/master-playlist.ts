import { quoted } from './hls-format.js';

/**
 * The multivariant (master) playlist: one variant per rendition, CMAF audio
 * as an EXT-X-MEDIA group. A pure function of its input.
 */

export interface MasterAudioRendition {
  groupId: string;
  name: string;
  uri: string;
  /** EXT-X-MEDIA CHANNELS, e.g. "2"; null to omit */
  channels: string | null;
  isDefault: boolean;
}

export interface MasterVariant {
  uri: string;
  /** peak bits per second, audio included */
  bandwidth: number;
  /** measured mean bits per second; null when nothing measured yet */
  averageBandwidth: number | null;
  /** 0 to omit RESOLUTION */
  width: number;
  height: number;
  /** 0 to omit FRAME-RATE */
  frameRate: number;
  codecs: string;
  audioGroup: string | null;
}

export interface MasterPlaylistInput {
  version: number;
  independentSegments: boolean;
  audio: readonly MasterAudioRendition[];
  variants: readonly MasterVariant[];
}

export function writeMasterPlaylist(input: MasterPlaylistInput): string {
  let out = `#EXTM3U\n#EXT-X-VERSION:${input.version}\n`;
  if (input.independentSegments) out += '#EXT-X-INDEPENDENT-SEGMENTS\n';
  if (input.audio.length > 0) out += '\n';
  for (const audio of input.audio) {
    out += `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=${quoted(audio.groupId)},NAME=${quoted(audio.name)}`;
    out += `,AUTOSELECT=YES,DEFAULT=${audio.isDefault ? 'YES' : 'NO'}`;
    if (audio.channels !== null) out += `,CHANNELS=${quoted(audio.channels)}`;
    out += `,URI=${quoted(audio.uri)}\n`;
  }
  for (const variant of input.variants) {
    out += `\n#EXT-X-STREAM-INF:BANDWIDTH=${Math.max(1, Math.round(variant.bandwidth))}`;
    if (variant.averageBandwidth !== null) out += `,AVERAGE-BANDWIDTH=${Math.max(1, Math.round(variant.averageBandwidth))}`;
    if (variant.width > 0 && variant.height > 0) out += `,RESOLUTION=${variant.width}x${variant.height}`;
    if (variant.frameRate > 0) out += `,FRAME-RATE=${variant.frameRate.toFixed(3)}`;
    if (variant.codecs !== '') out += `,CODECS=${quoted(variant.codecs)}`;
    if (variant.audioGroup !== null) out += `,AUDIO=${quoted(variant.audioGroup)}`;
    out += `\n${variant.uri}\n`;
  }
  return out;
}
