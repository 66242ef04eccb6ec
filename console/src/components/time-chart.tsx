import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';

/**
 * One series over time, drawn by uPlot and resized with its box. The canvas
 * means nothing to a screen reader, so the box is an image whose label says
 * what the chart shows and its latest value.
 */
export function TimeChart({
  title,
  at,
  values,
  version,
  format,
  color,
}: {
  title: string;
  /** epoch seconds */
  at: number[];
  values: number[];
  /** changes whenever at/values changed in place */
  version: number;
  format: (value: number) => string;
  color: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const chart = new uPlot(
      {
        width: Math.max(200, element.clientWidth),
        height: 180,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          // one point alone would stretch the axis over years: show at least the minute before it
          x: { time: true, range: (_u, min, max) => (max - min < 60 ? [max - 60, max] : [min, max]) },
          y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        },
        series: [{}, { label: title, stroke: color, width: 2, fill: `${color}22` }],
        axes: [{ stroke: 'currentColor' }, { stroke: 'currentColor', size: 86, values: (_u, ticks) => ticks.map(format) }],
      },
      [at, values],
      element,
    );
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, element.clientWidth), height: 180 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [title]);

  useEffect(() => {
    plot.current?.setData([at, values]);
  }, [version, at, values]);

  const latest = values.length > 0 ? format(values[values.length - 1]!) : 'no data yet';
  return (
    <figure class="chart">
      <figcaption>
        {title}: <b>{latest}</b>
      </figcaption>
      {/* kept mounted (uPlot draws into it) but hidden while empty: an empty uPlot shows made-up ticks */}
      <div ref={box} role="img" aria-label={`${title} chart, ${values.length} points, latest ${latest}`} hidden={values.length === 0} />
    </figure>
  );
}
