/** Mean and population standard deviation of a stretch of per-second values. */
export interface Moments {
  mean: number;
  stddev: number;
}

/**
 * What a stretch of one stream's per-second samples says, in a form that pools: the stats of
 * two stretches give those of both exactly (counts, means and standard deviations combine),
 * so a window's figures are the same whether they are read from the per-second rows or from
 * their one-minute roll-ups.
 */
export interface SeriesStats {
  samples: number;
  /** epoch ms of the first and the last sample */
  firstAt: number;
  lastAt: number;
  /** bits per second */
  ingressBitrate: Moments;
  fps: Moments;
  /** mean over the samples that have one (rebufferSamples of them); null when none has */
  rebufferRatio: number | null;
  rebufferSamples: number;
}

export interface SeriesSample {
  /** epoch ms */
  at: number;
  ingressBitrate: number;
  fps: number;
  rebufferRatio: number | null;
}

/** The stats of raw samples; null for none. */
export function seriesStats(samples: readonly SeriesSample[]): SeriesStats | null {
  return poolSeriesStats(
    samples.map((s) => ({
      samples: 1,
      firstAt: s.at,
      lastAt: s.at,
      ingressBitrate: { mean: s.ingressBitrate, stddev: 0 },
      fps: { mean: s.fps, stddev: 0 },
      rebufferRatio: s.rebufferRatio,
      rebufferSamples: s.rebufferRatio === null ? 0 : 1,
    })),
  );
}

/** The stats of the stretches together; null when they hold no sample. */
export function poolSeriesStats(parts: readonly SeriesStats[]): SeriesStats | null {
  let samples = 0;
  let firstAt = Infinity;
  let lastAt = -Infinity;
  const bitrate = { sum: 0, squares: 0 };
  const fps = { sum: 0, squares: 0 };
  let rebufferSum = 0;
  let rebufferSamples = 0;
  for (const part of parts) {
    if (part.samples <= 0) continue;
    samples += part.samples;
    firstAt = Math.min(firstAt, part.firstAt);
    lastAt = Math.max(lastAt, part.lastAt);
    addMoments(bitrate, part.ingressBitrate, part.samples);
    addMoments(fps, part.fps, part.samples);
    if (part.rebufferRatio !== null && part.rebufferSamples > 0) {
      rebufferSum += part.rebufferRatio * part.rebufferSamples;
      rebufferSamples += part.rebufferSamples;
    }
  }
  if (samples === 0) return null;
  return {
    samples,
    firstAt,
    lastAt,
    ingressBitrate: momentsOf(bitrate, samples),
    fps: momentsOf(fps, samples),
    rebufferRatio: rebufferSamples === 0 ? null : rebufferSum / rebufferSamples,
    rebufferSamples,
  };
}

/**
 * The population standard deviation from a count, the mean and the mean of the squares, as
 * SQL hands them over; rounding can take the difference a hair below zero, read as none.
 */
export function stddevOf(mean: number, meanOfSquares: number): number {
  return Math.sqrt(Math.max(0, meanOfSquares - mean * mean));
}

function addMoments(acc: { sum: number; squares: number }, m: Moments, n: number): void {
  acc.sum += m.mean * n;
  acc.squares += (m.stddev * m.stddev + m.mean * m.mean) * n;
}

function momentsOf(acc: { sum: number; squares: number }, n: number): Moments {
  const mean = acc.sum / n;
  return { mean, stddev: stddevOf(mean, acc.squares / n) };
}
