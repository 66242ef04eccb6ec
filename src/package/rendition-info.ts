/**
 * One rendition of a live stream as players and the API see it: what the
 * master playlist and the MPD list for it, and what lifecycle events carry.
 * It lives with the packaged media because the packagers' consumers (the
 * transcoder, the segment store) and the control plane all speak of it.
 */
export interface RenditionInfo {
  /** "source", "1080p", "720p", "480p", or "audio" */
  name: string;
  width: number;
  height: number;
  /** bits per second */
  bandwidth: number;
  codecs: string;
  frameRate: number;
}
