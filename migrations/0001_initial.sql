-- Streams, their publish keys, viewer sessions and per-second metrics.
-- Plain SQL that both PostgreSQL 13+ and PGlite accept. Timestamps are
-- written by the application (millisecond precision) so keyset pagination
-- cursors round-trip exactly through JavaScript Dates.

CREATE TABLE streams (
  id                 text PRIMARY KEY,
  title              text NOT NULL DEFAULT '',
  status             text NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'ACTIVE', 'ENDED', 'ERROR')),
  private            boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL,
  started_at         timestamptz,
  ended_at           timestamptz,
  end_reason         text,
  current_renditions jsonb NOT NULL DEFAULT '[]'::jsonb,
  peak_viewers       integer NOT NULL DEFAULT 0 CHECK (peak_viewers >= 0),
  instance_id        text
);

-- Listing newest first, optionally by status, with a (created_at, id) cursor.
CREATE INDEX streams_created_idx ON streams (created_at DESC, id DESC);
CREATE INDEX streams_status_created_idx ON streams (status, created_at DESC, id DESC);
-- Crash recovery: the live streams an instance owned.
CREATE INDEX streams_instance_active_idx ON streams (instance_id) WHERE status = 'ACTIVE';

CREATE TABLE stream_keys (
  id          text PRIMARY KEY,
  stream_id   text NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  -- sha256 of the plaintext key, lowercase hex; the plaintext is never stored.
  key_hash    text NOT NULL UNIQUE,
  -- the first characters of the key, enough to recognise it in a UI.
  key_prefix  text NOT NULL,
  created_at  timestamptz NOT NULL,
  revoked_at  timestamptz
);

CREATE INDEX stream_keys_stream_idx ON stream_keys (stream_id);

CREATE TABLE viewer_sessions (
  id          text PRIMARY KEY,
  stream_id   text NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('ws', 'hls', 'dash')),
  client_id   text,
  started_at  timestamptz NOT NULL,
  ended_at    timestamptz
);

CREATE INDEX viewer_sessions_stream_idx ON viewer_sessions (stream_id, started_at);
CREATE INDEX viewer_sessions_open_idx ON viewer_sessions (stream_id) WHERE ended_at IS NULL;

CREATE TABLE stream_metrics (
  stream_id        text NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  at               timestamptz NOT NULL,
  viewers          integer NOT NULL DEFAULT 0,
  -- bits per second; integer holds up to 2.1 Gb/s, far above any ingest.
  ingress_bitrate  integer NOT NULL DEFAULT 0,
  fps              double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (stream_id, at)
);

CREATE TABLE quality_levels (
  stream_id   text NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
  name        text NOT NULL,
  width       integer,
  height      integer,
  bandwidth   integer NOT NULL,
  codecs      text NOT NULL,
  frame_rate  double precision,
  PRIMARY KEY (stream_id, name)
);
