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
          // uPlot spreads a lone point over 86,400 of its time units (years, in seconds): show the minute before it instead
          x: {
            time: true,
            range: (u, min, max) => {
              const times = u.data[0];
              if (times.length >= 2 && max - min >= 60) return [min, max];
              const last = times.length > 0 ? times[times.length - 1]! : max;
              return [last - 60, last];
            },
          },
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
