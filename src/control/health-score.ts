import type { SeriesStats } from './series-stats.js';

/**
 * A stream's health over a stretch of time as one number, 0 (broken) to 100 (nothing wrong
 * that is measured). The formula is documented in docs/operations.md ("Stream health score");
 * change both together.
 *
 * Each component turns one measure into a penalty between 0 (at or better than `good`) and 1
 * (at or worse than `bad`), linear in between; the score is 100 × (1 − the weighted mean of
 * the penalties of the components that have a measure). A component without one (no CMCD
 * viewer reported, no video, not recorded) is left out and the others' weights fill in, so a
 * missing measure neither helps nor hurts.
 */
export interface HealthMeasures {
  /** seconds with a sample over the seconds from the first sample to the last (1: no gap) */
  coverage: number;
  /** standard deviation over mean of the ingest bitrate; null: no bitrate to judge */
  bitrateVariation: number | null;
  /** standard deviation over mean of the ingest frame rate; null: no video */
  frameRateVariation: number | null;
  /** frames dropped over frames received (0..1); null: not known */
  droppedFrameRatio: number | null;
  /** how far the transcoder's output trails its input, ms; null: not known */
  transcodeLagMs: number | null;
  /** the CMCD viewers' stalled time over their watch time (0..1); null: none reported */
  rebufferRatio: number | null;
}

export type HealthComponent = 'ingest_continuity' | 'bitrate_steadiness' | 'frame_rate_steadiness' | 'dropped_frames' | 'transcode_lag' | 'rebuffering';

export interface StreamHealth {
  /** 0..100, one decimal */
  score: number;
  /** each component's own score (0..100, one decimal); null when it had no measure */
  components: Record<HealthComponent, number | null>;
}

interface ComponentRule {
  weight: number;
  measure: (m: HealthMeasures) => number | null;
  /** the measure at which the penalty starts, and where it is whole */
  good: number;
  bad: number;
}

/** weights sum to 100: with every measure present, each is its share of the score */
export const HEALTH_RULES: Readonly<Record<HealthComponent, ComponentRule>> = {
  // a gap of a second in a minute costs little; half the seconds missing, all of it
  ingest_continuity: { weight: 20, measure: (m) => 1 - m.coverage, good: 0, bad: 0.5 },
  // a CBR encoder stays within a few per cent from second to second; VBR and keyframes move it more
  bitrate_steadiness: { weight: 10, measure: (m) => m.bitrateVariation, good: 0.25, bad: 1 },
  // a steady source reads ±1 frame a second (3 % at 30 fps); a third of the frames coming and going is a broken source
  frame_rate_steadiness: { weight: 20, measure: (m) => m.frameRateVariation, good: 0.05, bad: 0.3 },
  dropped_frames: { weight: 15, measure: (m) => m.droppedFrameRatio, good: 0, bad: 0.05 },
  // TRANSCODE_MAX_LAG_MS defaults to 3000: past it the transcoder drops frames
  transcode_lag: { weight: 10, measure: (m) => m.transcodeLagMs, good: 1000, bad: 5000 },
  // past about 1 % viewers notice; 5 % stalled is a broken stream for them
  rebuffering: { weight: 25, measure: (m) => m.rebufferRatio, good: 0, bad: 0.05 },
};

export function streamHealth(measures: HealthMeasures): StreamHealth {
  let weighted = 0;
  let weights = 0;
  const components = {} as Record<HealthComponent, number | null>;
  for (const [name, rule] of Object.entries(HEALTH_RULES) as Array<[HealthComponent, ComponentRule]>) {
    const value = rule.measure(measures);
    if (value === null || Number.isNaN(value)) {
      components[name] = null;
      continue;
    }
    const p = penalty(value, rule.good, rule.bad);
    components[name] = round1(100 * (1 - p));
    weighted += rule.weight * p;
    weights += rule.weight;
  }
  return { score: weights === 0 ? 100 : round1(100 * (1 - weighted / weights)), components };
}

/**
 * The measures that per-second stream metrics rows hold. Dropped frames and transcode lag are
 * not recorded in them, so those components are absent.
 */
export function measuresOf(stats: SeriesStats): HealthMeasures {
  const seconds = Math.max(1, Math.round((stats.lastAt - stats.firstAt) / 1000) + 1);
  return {
    coverage: Math.min(1, stats.samples / seconds),
    // no bits at all while live: as unsteady as it gets
    bitrateVariation: stats.ingressBitrate.mean > 0 ? stats.ingressBitrate.stddev / stats.ingressBitrate.mean : Infinity,
    // no frames at all: audio only (or no video yet), nothing to judge
    frameRateVariation: stats.fps.mean > 0 ? stats.fps.stddev / stats.fps.mean : null,
    droppedFrameRatio: null,
    transcodeLagMs: null,
    rebufferRatio: stats.rebufferRatio,
  };
}

/** The health of a stretch of per-second samples. */
export function healthOf(stats: SeriesStats): StreamHealth {
  return streamHealth(measuresOf(stats));
}

function penalty(value: number, good: number, bad: number): number {
  if (value <= good) return 0;
  if (value >= bad) return 1;
  return (value - good) / (bad - good);
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
