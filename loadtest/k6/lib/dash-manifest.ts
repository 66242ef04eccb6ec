/**
 * What a load-test viewer needs from a live DASH MPD: per representation its
 * init URL and the URL of the newest complete segment. Handles SegmentTemplate
 * with a SegmentTimeline ($Number$ or $Time$) and with a fixed @duration
 * (number from availabilityStartTime and the clock). Regex-based on purpose:
 * k6 has no DOM parser, and the Node mirror must behave the same. Pure code,
 * shared by k6 (./lib/dash-manifest.ts) and Node (../k6/lib/dash-manifest.js).
 */

/**
 * resolveUri from hls-playlist.ts, passed in: a lib file importing another
 * would need a `.ts` specifier for k6 and a `.js` one for Node.
 */
export type ResolveUri = (base: string, reference: string) => string;

export interface DashRepresentation {
  id: string;
  bandwidth: number;
  contentType: 'video' | 'audio' | 'other';
  initUrl: string | null;
  /** newest complete segment, null when the timeline is still empty */
  newestSegment: { url: string; number: number; durationSeconds: number } | null;
}

export interface DashManifest {
  live: boolean;
  minimumUpdatePeriodSeconds: number | null;
  representations: DashRepresentation[];
}

/** xs:duration as used by MPDs (PT1.5S, PT2M, P0DT1H): seconds. */
export function parseIsoDuration(value: string): number {
  const match = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(value.trim());
  if (match === null) throw new Error(`not an xs:duration: ${value}`);
  return Number(match[1] ?? 0) * 86400 + Number(match[2] ?? 0) * 3600 + Number(match[3] ?? 0) * 60 + Number(match[4] ?? 0);
}

function attribute(tag: string, name: string): string | null {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match === null ? null : match[1]!.replace(/&amp;/g, '&');
}

function openingTag(xml: string, name: string): string | null {
  const match = new RegExp(`<${name}(\\s[^>]*)?/?>`).exec(xml);
  return match === null ? null : match[0];
}

/** Each element `name` with its body (or an empty body when self-closing). */
function elements(xml: string, name: string): { tag: string; body: string }[] {
  const out: { tag: string; body: string }[] = [];
  const pattern = new RegExp(`<${name}(?:\\s[^>]*)?(?:/>|>([\\s\\S]*?)</${name}>)`, 'g');
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(xml)) !== null) {
    const tagEnd = match[0].indexOf('>') + 1;
    out.push({ tag: match[0].slice(0, tagEnd), body: match[1] ?? '' });
  }
  return out;
}

export function fillTemplate(template: string, values: { RepresentationID: string; Bandwidth: number; Number?: number; Time?: number }): string {
  return template.replace(/\$(RepresentationID|Bandwidth|Number|Time)(?:%0(\d+)d)?\$|\$\$/g, (whole, key: string | undefined, width: string | undefined) => {
    if (whole === '$$') return '$';
    const value = values[key as keyof typeof values];
    if (value === undefined) throw new Error(`template needs $${key}$`);
    const text = String(value);
    return width === undefined ? text : text.padStart(Number(width), '0');
  });
}

/** `nowMs` is the wall clock (injected so tests can fix it). */
export function parseDashManifest(xml: string, manifestUrl: string, nowMs: number, resolveUri: ResolveUri): DashManifest {
  const mpdTag = openingTag(xml, 'MPD');
  if (mpdTag === null) throw new Error('not an MPD');
  const live = attribute(mpdTag, 'type') === 'dynamic';
  const minimumUpdatePeriod = attribute(mpdTag, 'minimumUpdatePeriod');
  const availabilityStart = attribute(mpdTag, 'availabilityStartTime');
  const baseUrlMatch = /<BaseURL>([^<]*)<\/BaseURL>/.exec(xml);
  const base = baseUrlMatch === null ? manifestUrl : resolveUri(manifestUrl, baseUrlMatch[1]!.trim());
  const representations: DashRepresentation[] = [];
  for (const adaptation of elements(xml, 'AdaptationSet')) {
    // A SegmentTemplate before the first Representation is the adaptation set's, inherited by all of them.
    const firstRepresentationAt = adaptation.body.indexOf('<Representation');
    const sharedPart = firstRepresentationAt < 0 ? adaptation.body : adaptation.body.slice(0, firstRepresentationAt);
    const adaptationTemplate = elements(sharedPart, 'SegmentTemplate')[0];
    const adaptationType = contentTypeOf(adaptation.tag);
    for (const representation of elements(adaptation.body, 'Representation')) {
      const id = attribute(representation.tag, 'id') ?? '';
      const bandwidth = Number(attribute(representation.tag, 'bandwidth') ?? '0');
      const template = elements(representation.body, 'SegmentTemplate')[0] ?? adaptationTemplate;
      const contentType = adaptationType !== 'other' ? adaptationType : contentTypeOf(representation.tag);
      if (template === undefined) {
        representations.push({ id, bandwidth, contentType, initUrl: null, newestSegment: null });
        continue;
      }
      const values = { RepresentationID: id, Bandwidth: bandwidth };
      const initialization = attribute(template.tag, 'initialization');
      const media = attribute(template.tag, 'media');
      const timescale = Number(attribute(template.tag, 'timescale') ?? '1');
      const startNumber = Number(attribute(template.tag, 'startNumber') ?? '1');
      const initUrl = initialization === null ? null : resolveUri(base, fillTemplate(initialization, values));
      let newestSegment: DashRepresentation['newestSegment'] = null;
      if (media !== null) {
        const newest = newestFromTimeline(template.body, startNumber) ?? newestFromDuration(template.tag, startNumber, timescale, availabilityStart, nowMs);
        if (newest !== null) {
          newestSegment = {
            url: resolveUri(base, fillTemplate(media, { ...values, Number: newest.number, Time: newest.time })),
            number: newest.number,
            durationSeconds: newest.duration / timescale,
          };
        }
      }
      representations.push({ id, bandwidth, contentType, initUrl, newestSegment });
    }
  }
  return {
    live,
    minimumUpdatePeriodSeconds: minimumUpdatePeriod === null ? null : parseIsoDuration(minimumUpdatePeriod),
    representations,
  };
}

function contentTypeOf(tag: string): DashRepresentation['contentType'] {
  const declared = attribute(tag, 'contentType') ?? attribute(tag, 'mimeType') ?? '';
  if (declared.startsWith('video')) return 'video';
  if (declared.startsWith('audio')) return 'audio';
  return 'other';
}

function newestFromTimeline(templateBody: string, startNumber: number): { number: number; time: number; duration: number } | null {
  const timeline = /<SegmentTimeline>([\s\S]*?)<\/SegmentTimeline>/.exec(templateBody);
  if (timeline === null) return null;
  let time = 0;
  let count = 0;
  let last: { time: number; duration: number } | null = null;
  const pattern = /<S\s[^>]*\/?>/g;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(timeline[1]!)) !== null) {
    const t = attribute(match[0], 't');
    const d = Number(attribute(match[0], 'd') ?? 'NaN');
    const r = Number(attribute(match[0], 'r') ?? '0');
    if (t !== null) time = Number(t);
    // r = -1 (repeat until the next S or the period end) does not occur in our live MPDs; treat as 0.
    const repeats = r < 0 ? 0 : r;
    for (let i = 0; i <= repeats; i++) {
      last = { time, duration: d };
      time += d;
      count++;
    }
  }
  if (last === null) return null;
  return { number: startNumber + count - 1, time: last.time, duration: last.duration };
}

function newestFromDuration(
  templateTag: string,
  startNumber: number,
  timescale: number,
  availabilityStart: string | null,
  nowMs: number,
): { number: number; time: number; duration: number } | null {
  const duration = Number(attribute(templateTag, 'duration') ?? 'NaN');
  if (!(duration > 0) || availabilityStart === null) return null;
  const elapsedSeconds = (nowMs - Date.parse(availabilityStart)) / 1000;
  const complete = Math.floor(elapsedSeconds / (duration / timescale));
  if (complete < 1) return null;
  const index = complete - 1;
  return { number: startNumber + index, time: index * duration, duration };
}
