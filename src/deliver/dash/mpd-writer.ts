/**
 * The DASH MPD (ISO/IEC 23009-1, DASH-IF IOP live profile): one Period from
 * PT0S, a video and an audio AdaptationSet, SegmentTemplate with $Number$
 * and a SegmentTimeline. A pure function of its input (the clock arrives as
 * `publishTime`).
 */

export interface MpdSegmentView {
  /** track timescale units */
  readonly baseMediaDecodeTime: number;
  /** seconds */
  readonly duration: number;
}

export interface MpdRepresentation {
  id: string;
  bandwidth: number;
  codecs: string;
  timescale: number;
  initialization: string;
  /** with $Number$ */
  media: string;
  /** msn of segments[0] */
  startNumber: number;
  segments: readonly MpdSegmentView[];
  /** video only; 0 to omit */
  width: number;
  height: number;
  frameRate: number;
}

export interface MpdUtcTiming {
  schemeIdUri: string;
  value: string;
}

export interface MpdInput {
  /** epoch ms */
  publishTime: number;
  /** epoch ms at which media time 0 was (dynamic only) */
  availabilityStartTime: number;
  ended: boolean;
  /** absolute BaseURL (CDN) or null */
  baseUrl: string | null;
  /** seconds */
  minimumUpdatePeriod: number;
  timeShiftBufferDepth: number;
  suggestedPresentationDelay: number;
  minBufferTime: number;
  utcTimings: readonly MpdUtcTiming[];
  video: readonly MpdRepresentation[];
  audio: readonly MpdRepresentation[];
}

/** xs:duration in seconds, e.g. PT2S, PT1.5S. */
export function isoDuration(seconds: number): string {
  const fixed = Math.max(0, seconds).toFixed(3).replace(/\.?0+$/, '');
  return `PT${fixed === '' ? '0' : fixed}S`;
}

function xmlAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function dateTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Durations in timescale units, exact where the next segment's decode time is known. */
function timelineDurations(rep: MpdRepresentation): number[] {
  const segments = rep.segments;
  const out = new Array<number>(segments.length);
  for (let i = 0; i < segments.length; i++) {
    const next = segments[i + 1];
    out[i] = next
      ? next.baseMediaDecodeTime - segments[i]!.baseMediaDecodeTime
      : Math.round(segments[i]!.duration * rep.timescale);
  }
  return out;
}

function segmentTimeline(rep: MpdRepresentation, indent: string): string {
  const durations = timelineDurations(rep);
  let out = `${indent}<SegmentTimeline>\n`;
  let i = 0;
  while (i < rep.segments.length) {
    const t = rep.segments[i]!.baseMediaDecodeTime;
    const d = durations[i]!;
    let repeat = 0;
    // runs of equal, contiguous segments fold into one S@r
    while (
      i + repeat + 1 < rep.segments.length &&
      durations[i + repeat + 1] === d &&
      rep.segments[i + repeat + 1]!.baseMediaDecodeTime === t + (repeat + 1) * d
    ) {
      repeat++;
    }
    out += `${indent}  <S t="${t}" d="${d}"${repeat > 0 ? ` r="${repeat}"` : ''}/>\n`;
    i += repeat + 1;
  }
  return out + `${indent}</SegmentTimeline>\n`;
}

function representation(rep: MpdRepresentation, kind: 'video' | 'audio', presentationStart: number | null): string {
  let out = `      <Representation id="${xmlAttr(rep.id)}" bandwidth="${Math.max(1, Math.round(rep.bandwidth))}" codecs="${xmlAttr(rep.codecs)}"`;
  if (kind === 'video' && rep.width > 0 && rep.height > 0) out += ` width="${rep.width}" height="${rep.height}" sar="1:1"`;
  if (kind === 'video' && rep.frameRate > 0) out += ` frameRate="${frameRate(rep.frameRate)}"`;
  out += '>\n';
  out += `        <SegmentTemplate timescale="${rep.timescale}" initialization="${xmlAttr(rep.initialization)}" media="${xmlAttr(rep.media)}" startNumber="${rep.startNumber}"`;
  if (presentationStart !== null) out += ` presentationTimeOffset="${Math.round(presentationStart * rep.timescale)}"`;
  out += '>\n';
  out += segmentTimeline(rep, '          ');
  out += '        </SegmentTemplate>\n';
  return out + '      </Representation>\n';
}

/** FrameRateType: an integer or a fraction (29.97 → 30000/1001). */
function frameRate(fps: number): string {
  if (Number.isInteger(fps)) return String(fps);
  const ntsc = Math.round(fps * 1.001);
  if (Math.abs(ntsc / 1.001 - fps) < 0.005) return `${ntsc * 1000}/1001`;
  return `${Math.round(fps * 1000)}/1000`;
}

function adaptationSet(id: number, kind: 'video' | 'audio', reps: readonly MpdRepresentation[], presentationStart: number | null): string {
  const mime = kind === 'video' ? 'video/mp4' : 'audio/mp4';
  let out = `    <AdaptationSet id="${id}" contentType="${kind}" mimeType="${mime}" segmentAlignment="true" startWithSAP="1"`;
  if (kind === 'audio') out += ' lang="und"';
  out += '>\n';
  if (kind === 'audio') out += '      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="main"/>\n';
  for (const rep of reps) out += representation(rep, kind, presentationStart);
  return out + '    </AdaptationSet>\n';
}

/** Start (seconds of media time) of the earliest listed segment: an ended, static MPD plays from there. */
function earliestStart(input: MpdInput): number {
  let start = Number.POSITIVE_INFINITY;
  for (const rep of [...input.video, ...input.audio]) {
    const first = rep.segments[0];
    if (first) start = Math.min(start, first.baseMediaDecodeTime / rep.timescale);
  }
  return Number.isFinite(start) ? start : 0;
}

function latestEnd(input: MpdInput): number {
  let end = 0;
  for (const rep of [...input.video, ...input.audio]) {
    const durations = timelineDurations(rep);
    const lastIndex = rep.segments.length - 1;
    if (lastIndex >= 0) end = Math.max(end, (rep.segments[lastIndex]!.baseMediaDecodeTime + durations[lastIndex]!) / rep.timescale);
  }
  return end;
}

export function writeMpd(input: MpdInput): string {
  const profiles = 'urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019';
  let out = '<?xml version="1.0" encoding="UTF-8"?>\n';
  out += `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="${profiles}"`;
  let presentationStart: number | null = null;
  if (input.ended) {
    presentationStart = earliestStart(input);
    out += ` type="static" mediaPresentationDuration="${isoDuration(latestEnd(input) - presentationStart)}"`;
    out += ` minBufferTime="${isoDuration(input.minBufferTime)}">\n`;
  } else {
    out += ` type="dynamic" availabilityStartTime="${dateTime(input.availabilityStartTime)}" publishTime="${dateTime(input.publishTime)}"`;
    out += ` minimumUpdatePeriod="${isoDuration(input.minimumUpdatePeriod)}" timeShiftBufferDepth="${isoDuration(input.timeShiftBufferDepth)}"`;
    out += ` suggestedPresentationDelay="${isoDuration(input.suggestedPresentationDelay)}" minBufferTime="${isoDuration(input.minBufferTime)}">\n`;
  }
  if (input.baseUrl !== null) out += `  <BaseURL>${xmlAttr(input.baseUrl)}</BaseURL>\n`;
  out += '  <Period id="0" start="PT0S">\n';
  let setId = 0;
  if (input.video.length > 0) out += adaptationSet(setId++, 'video', input.video, presentationStart);
  if (input.audio.length > 0) out += adaptationSet(setId++, 'audio', input.audio, presentationStart);
  out += '  </Period>\n';
  if (!input.ended) {
    for (const timing of input.utcTimings) {
      out += `  <UTCTiming schemeIdUri="${xmlAttr(timing.schemeIdUri)}" value="${xmlAttr(timing.value)}"/>\n`;
    }
  }
  return out + '</MPD>\n';
}
