-- Egress and the quality distribution in the per-second stream metrics and their roll-ups.
-- Measured by the ingesting instance's viewer-session tracker (src/deliver/sessions/):
-- null when it has none (VIEWER_SESSIONS=off) and in rows written before this migration.

-- bits per second served to the stream's viewers in that second (response bodies of every
-- HLS, LL-HLS and DASH request); bigint: a thousand viewers of a 3 Mb/s rung are 3 Gb/s
ALTER TABLE stream_metrics ADD COLUMN egress_bitrate bigint;
-- the stream's live HLS/DASH sessions by the rendition they last fetched, e.g. {"720p": 12, "source": 3}
ALTER TABLE stream_metrics ADD COLUMN viewers_by_rendition jsonb;

ALTER TABLE stream_metrics_1m
  -- over the minute's seconds that have one (egress_samples of them); null when none has
  ADD COLUMN egress_bitrate_avg double precision,
  ADD COLUMN egress_bitrate_max bigint,
  ADD COLUMN egress_samples integer NOT NULL DEFAULT 0;

ALTER TABLE stream_metrics_1m
  -- each rendition's mean viewers over the minute's seconds that have a distribution
  -- (rendition_samples of them; a second without the rendition counts 0); null when none has
  ADD COLUMN viewers_by_rendition_avg jsonb,
  ADD COLUMN rendition_samples integer NOT NULL DEFAULT 0;
