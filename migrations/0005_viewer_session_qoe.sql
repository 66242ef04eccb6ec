-- Viewer sessions as the delivery layer tracks them (src/deliver/sessions/):
-- what each player fetched and what it reported through CMCD (CTA-5004).
-- Rows are upserted in batches while a session lives and once more when it ends.

ALTER TABLE viewer_sessions DROP CONSTRAINT IF EXISTS viewer_sessions_kind_check;
ALTER TABLE viewer_sessions ADD CONSTRAINT viewer_sessions_kind_check CHECK (kind IN ('ws', 'hls', 'llhls', 'dash'));

ALTER TABLE viewer_sessions
  ADD COLUMN instance_id          text,
  ADD COLUMN last_seen_at         timestamptz,
  -- rendition names in the order first watched
  ADD COLUMN renditions           jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN rendition_switches   integer NOT NULL DEFAULT 0,
  ADD COLUMN requests             integer NOT NULL DEFAULT 0,
  ADD COLUMN bytes_served         bigint NOT NULL DEFAULT 0,
  -- first request to the first media segment or part served
  ADD COLUMN startup_ms           integer,
  -- first media served to the last request
  ADD COLUMN watch_ms             bigint NOT NULL DEFAULT 0,
  -- CMCD: whether the player sent any, and what it said
  ADD COLUMN cmcd                 boolean NOT NULL DEFAULT false,
  ADD COLUMN cmcd_sid             text,
  ADD COLUMN content_id           text,
  ADD COLUMN stream_format        text,
  ADD COLUMN rebuffer_count       integer NOT NULL DEFAULT 0,
  ADD COLUMN rebuffer_ms          bigint NOT NULL DEFAULT 0,
  ADD COLUMN rebuffer_ratio       double precision,
  ADD COLUMN avg_bitrate_kbps     double precision,
  ADD COLUMN avg_throughput_kbps  double precision,
  ADD COLUMN buffer_length_ms     double precision;

-- the rebuffering ratio of the stream's CMCD viewers at that second (null: none reported)
ALTER TABLE stream_metrics ADD COLUMN rebuffer_ratio double precision;
