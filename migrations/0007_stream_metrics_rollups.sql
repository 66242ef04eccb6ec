-- One-minute roll-ups of stream_metrics, kept longer than the per-second rows
-- (STREAM_METRICS_ROLLUP_RETENTION_DAYS) so that long windows are cheap to read and
-- outlive the per-second retention. Filled by src/control/stream-metrics-rollups.ts:
-- each row is recomputed from the minute's per-second rows, never added to, so
-- rolling a minute up twice (a restart, two instances) gives the same row.

CREATE TABLE stream_metrics_1m (
  stream_id               text NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  -- the minute's start (a multiple of 60 s since the epoch)
  minute                  timestamptz NOT NULL,
  -- seconds of the minute with a per-second row, and the first and last of them
  samples                 integer NOT NULL,
  first_at                timestamptz NOT NULL,
  last_at                 timestamptz NOT NULL,
  viewers_avg             double precision NOT NULL,
  viewers_max             integer NOT NULL,
  -- bits per second; the population standard deviation over the minute's seconds
  ingress_bitrate_avg     double precision NOT NULL,
  ingress_bitrate_min     integer NOT NULL,
  ingress_bitrate_max     integer NOT NULL,
  ingress_bitrate_stddev  double precision NOT NULL,
  fps_avg                 double precision NOT NULL,
  fps_min                 double precision NOT NULL,
  fps_stddev              double precision NOT NULL,
  -- mean over the seconds that had one (rebuffer_samples of them); null when none did
  rebuffer_ratio_avg      double precision,
  rebuffer_samples        integer NOT NULL,
  PRIMARY KEY (stream_id, minute)
);

-- pruning the roll-ups by age
CREATE INDEX stream_metrics_1m_minute_idx ON stream_metrics_1m (minute);

-- rolling up a range of seconds across streams, and pruning the per-second rows by age
-- (the primary key leads with stream_id)
CREATE INDEX stream_metrics_at_idx ON stream_metrics (at);

-- How far the roll-up has gone: every minute before rolled_to has been rolled up. One row;
-- an instance rolling up holds its lock (FOR UPDATE SKIP LOCKED), so the others skip that round.
CREATE TABLE stream_metrics_rollup_state (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  rolled_to  timestamptz
);

INSERT INTO stream_metrics_rollup_state (rolled_to) VALUES (NULL);
