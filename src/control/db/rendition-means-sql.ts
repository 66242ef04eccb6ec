import { sql, type RawBuilder } from 'kysely';

/** Viewers by rendition name, e.g. {"720p": 12, "source": 3}: counts at 1 s, means over longer. */
export type ViewersByRendition = Record<string, number>;

/**
 * A select-list expression of a GROUP BY query over rows that each hold a distribution of
 * viewers by rendition (`column`, jsonb, or null where it was not measured) weighing
 * `weightColumn` seconds (1: each row one second): per group, each rendition's mean viewers over the group's seconds that have a
 * distribution, a rendition missing from a row counting 0 there; null when no row has one.
 * Per-second rows weigh 1; one-minute roll-ups (means already) weigh their rendition_samples,
 * so pooling minutes gives what their seconds would. Means, not sums: a step's figure reads
 * like a count of viewers, whatever the step.
 *
 * Rendition names are keys, not columns, so the group's objects are gathered into one jsonb
 * array by an aggregate of the outer query (its arguments name only the outer rows' columns,
 * so PostgreSQL evaluates it per outer group) and taken apart in a scalar subquery.
 */
export function renditionMeans(column: string, weightColumn: string | 1): RawBuilder<ViewersByRendition | null> {
  const col = sql.ref(column);
  const weight = weightColumn === 1 ? sql.lit(1) : sql.ref(weightColumn);
  // no rendition in any row that has one (nobody fetched media): {} rather than null, which says "not measured"
  return sql<ViewersByRendition | null>`CASE WHEN count(${col}) = 0 THEN NULL ELSE coalesce((
    SELECT jsonb_object_agg(totals.rendition, totals.viewer_seconds / sum(CASE WHEN ${col} IS NOT NULL THEN ${weight} END))
    FROM (
      SELECT counts.rendition, sum(counts.viewers::float8 * (rows_of_group.item ->> 1)::float8) AS viewer_seconds
      FROM jsonb_array_elements(jsonb_agg(jsonb_build_array(${col}, ${weight})) FILTER (WHERE ${col} IS NOT NULL)) AS rows_of_group (item),
           jsonb_each_text(rows_of_group.item -> 0) AS counts (rendition, viewers)
      GROUP BY counts.rendition
    ) totals
  ), '{}'::jsonb) END`;
}

/**
 * A distribution as the database hands it back (jsonb parsed by both drivers): numbers kept,
 * anything else dropped; null stays null.
 */
export function readViewersByRendition(value: unknown): ViewersByRendition | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const out = new Map<string, number>();
  for (const [rendition, viewers] of Object.entries(value as Record<string, unknown>)) {
    const n = Number(viewers);
    if (Number.isFinite(n)) out.set(rendition, n);
  }
  return Object.fromEntries(out);
}
