/**
 * Scenario parameters and their defaults, shared by the k6 scripts (read from
 * __ENV) and the Node mirrors (read from --flags), so "the same scenario"
 * means the same numbers. Pure code: no k6 or Node imports.
 */

/** Which variant a viewer plays (the same union as hls-playlist.ts; not imported, see dash-manifest.ts). */
export type RenditionChoice = 'lowest' | 'highest' | 'random';

export interface ViewerScenarioParams {
  /** master playlist (HLS) or manifest (DASH) URL of a live stream */
  url: string;
  /** concurrent viewers */
  vus: number;
  /** ramp-up time, then `duration` at full load */
  rampSeconds: number;
  durationSeconds: number;
  rendition: RenditionChoice;
  /** newest segments fetched when a viewer joins (a player's start-up buffer) */
  joinSegments: number;
}

export interface ApiScenarioParams {
  /** base URL of the server, e.g. http://localhost:8080 */
  url: string;
  /** admin bearer token */
  token: string;
  /** requests per second across the scenario (k6: constant-arrival-rate) */
  rate: number;
  durationSeconds: number;
  vus: number;
}

export const VIEWER_DEFAULTS = {
  vus: 50,
  rampSeconds: 30,
  durationSeconds: 120,
  rendition: 'random' as RenditionChoice,
  joinSegments: 3,
};

export const API_DEFAULTS = {
  url: 'http://localhost:8080',
  rate: 50,
  durationSeconds: 60,
  vus: 20,
};

/** "90", "90s", "2m", "1h30m" (k6's duration spelling): seconds. */
export function parseDurationSeconds(value: string): number {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(trimmed)) !== null) {
    if (match.index !== consumed) break;
    const amount = Number(match[1]);
    const unit = match[2];
    total += unit === 'h' ? amount * 3600 : unit === 'm' ? amount * 60 : unit === 's' ? amount : amount / 1000;
    consumed = match.index + match[0].length;
  }
  if (consumed !== trimmed.length || consumed === 0) throw new Error(`not a duration: ${value}`);
  return total;
}

export function parseRendition(value: string): RenditionChoice {
  if (value === 'lowest' || value === 'highest' || value === 'random') return value;
  throw new Error(`rendition must be lowest, highest or random, not ${value}`);
}

function positiveInt(name: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${name} must be a positive integer, not ${value}`);
  return Number(value);
}

/** From a string map (k6's __ENV, or flags turned into upper-case names). */
export function viewerParamsFrom(source: Record<string, string | undefined>): ViewerScenarioParams {
  const url = source['URL'];
  if (url === undefined || url === '') throw new Error('URL (the live stream\'s master playlist or manifest) is required');
  return {
    url,
    vus: source['VUS'] ? positiveInt('VUS', source['VUS']) : VIEWER_DEFAULTS.vus,
    rampSeconds: source['RAMP'] ? parseDurationSeconds(source['RAMP']) : VIEWER_DEFAULTS.rampSeconds,
    durationSeconds: source['DURATION'] ? parseDurationSeconds(source['DURATION']) : VIEWER_DEFAULTS.durationSeconds,
    rendition: source['RENDITION'] ? parseRendition(source['RENDITION']) : VIEWER_DEFAULTS.rendition,
    joinSegments: source['JOIN_SEGMENTS'] ? positiveInt('JOIN_SEGMENTS', source['JOIN_SEGMENTS']) : VIEWER_DEFAULTS.joinSegments,
  };
}

export function apiParamsFrom(source: Record<string, string | undefined>): ApiScenarioParams {
  const token = source['ADMIN_TOKEN'];
  if (token === undefined || token === '') throw new Error('ADMIN_TOKEN is required');
  return {
    url: (source['URL'] ?? API_DEFAULTS.url).replace(/\/+$/, ''),
    token,
    rate: source['RATE'] ? positiveInt('RATE', source['RATE']) : API_DEFAULTS.rate,
    durationSeconds: source['DURATION'] ? parseDurationSeconds(source['DURATION']) : API_DEFAULTS.durationSeconds,
    vus: source['VUS'] ? positiveInt('VUS', source['VUS']) : API_DEFAULTS.vus,
  };
}

/** The k6 scenario every viewer script runs: ramp to `vus` viewers, hold them, wind down. */
export function rampingViewers(params: ViewerScenarioParams) {
  return {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [
      { duration: `${params.rampSeconds}s`, target: params.vus },
      { duration: `${params.durationSeconds}s`, target: params.vus },
    ],
    gracefulRampDown: '5s',
    gracefulStop: '10s',
  };
}
