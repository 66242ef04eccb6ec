/**
 * Why a publisher's stream ended, as ingest decides it and as the database,
 * the events and the WebSocket messages record it. 'disconnected' (the
 * connection went without an unpublish) is the one a publisher may come back
 * from: delivery holds its playlists open for a grace.
 */
export type StreamEndReason = 'unpublished' | 'disconnected' | 'idle_timeout' | 'taken_over' | 'deleted' | 'shutdown' | 'error';
