import { useEffect, useState } from 'preact/hooks';
import type { Api, MetricsPoint, Stream } from '../api.js';
import { CopyField } from '../components/copy-field.js';
import { Player } from '../components/player.js';
import { TimeChart } from '../components/time-chart.js';
import { bitrate, dateTime, hlsUrlFor, wsUrlFor } from '../format.js';
import { href } from '../route.js';
import { useStreamFeed } from '../stream-feed.js';

/** History windows offered: the span and the step that keeps it to a few hundred points. */
const WINDOWS = [
  { label: 'last 15 minutes', seconds: 900, step: 5 },
  { label: 'last hour', seconds: 3600, step: 15 },
  { label: 'last 24 hours', seconds: 86_400, step: 300 },
] as const;

const count = (n: number): string => String(Math.round(n));
/** the history reloads itself this often while the page is open (its rows arrive a few seconds late anyway) */
const HISTORY_REFRESH_MS = 30_000;

/** One stream: player, live viewers and bitrate from the WebSocket, history from the metrics API, end and revoke. */
export function StreamPage({ api, id }: { api: Api; id: string }) {
  const [stream, setStream] = useState<Stream | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** private streams: a viewer token for the player, the WebSocket and the share link */
  const [token, setToken] = useState<string | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let gone = false;
    setReady(false);
    setToken(null);
    (async () => {
      const loaded = await api.getStream(id);
      if (gone) return;
      setStream(loaded);
      if (loaded.private && loaded.status !== 'ENDED') {
        const minted = await api.playbackToken(id, 3600);
        if (gone) return;
        setToken(minted.token);
      }
      setReady(true);
    })().catch((err: Error) => !gone && setError(err.message));
    return () => {
      gone = true;
    };
  }, [api, id]);

  const feed = useStreamFeed(ready ? wsUrlFor(id, token) : null);
  const live = feed.state.live && feed.state.ended === null;

  if (error !== null) {
    return (
      <section>
        <h1>Stream</h1>
        <p class="error" role="alert">
          {error}
        </p>
        <a href={href.list}>Back to the streams</a>
      </section>
    );
  }
  if (stream === null) return <p>Loading…</p>;

  const watchLink = new URL(href.watch(id, token ?? undefined), location.href).href;
  const end = async (): Promise<void> => {
    if (!window.confirm(`End "${stream.title || stream.id}"? The publisher is disconnected and its stream key stops working.`)) return;
    try {
      setStream(await api.endStream(id));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const state = feed.state.ended !== null ? `ended (${feed.state.ended})` : live ? (feed.state.interrupted ? 'interrupted' : 'live') : stream.status === 'ENDED' ? 'ended' : 'waiting for the publisher';

  return (
    <section aria-labelledby="stream-title">
      <p>
        <a href={href.list}>← Streams</a>
      </p>
      <div class="heading-row">
        <h1 id="stream-title">{stream.title || stream.id}</h1>
        {stream.private && <span class="tag">private</span>}
      </div>
      <dl class="stats" aria-live="polite">
        <div>
          <dt>Status</dt>
          <dd data-testid="stream-state">{state}</dd>
        </div>
        <div>
          <dt>Viewers now</dt>
          <dd data-testid="viewers">{feed.state.viewers ?? stream.viewers}</dd>
        </div>
        <div>
          <dt>Peak</dt>
          <dd>{feed.state.peak ?? stream.peak_viewers}</dd>
        </div>
        <div>
          <dt>Ingest</dt>
          <dd data-testid="bitrate">{feed.state.ingressBitrate === null ? '–' : bitrate(feed.state.ingressBitrate)}</dd>
        </div>
      </dl>
      {feed.state.connection === 'refused' && (
        <p class="error" role="alert">
          The status feed was refused: {feed.state.refusal}
        </p>
      )}
      {feed.state.connection === 'lost' && <p class="notice">Status feed lost, reconnecting…</p>}
      {live ? <Player src={hlsUrlFor(id, token)} title={stream.title || stream.id} /> : <div class="player-placeholder">{state}</div>}
      <div class="charts">
        <TimeChart title="Ingest bitrate" at={feed.samples.at} values={feed.samples.bitrate} version={feed.state.version} format={bitrate} color="#2f6fdf" />
        <TimeChart title="Viewers" at={feed.samples.at} values={feed.samples.viewers} version={feed.state.version} format={count} color="#c0392b" />
      </div>
      <History api={api} id={id} />
      <h2>Share and publish</h2>
      <CopyField label={token ? 'Watch link (its viewer token lasts an hour)' : 'Watch link'} value={watchLink} />
      <p>
        <a href={href.watch(id, token ?? undefined)} target="_blank" rel="noopener">
          Open the watch page
        </a>
      </p>
      <CopyField label="Server URL (OBS)" value={stream.rtmp_url} />
      <p class="hint">The stream key was shown once, when the stream was created. Created {dateTime(stream.created_at)}.</p>
      <h2>End</h2>
      <button type="button" class="danger" onClick={() => void end()} disabled={stream.status === 'ENDED'}>
        End stream and revoke its key
      </button>
    </section>
  );
}

/** The stream's stored per-second history (GET /api/v1/streams/:id/metrics), rolled up to the window's step. */
function History({ api, id }: { api: Api; id: string }) {
  const [windowIndex, setWindowIndex] = useState(0);
  const [points, setPoints] = useState<MetricsPoint[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const [reload, setReload] = useState(0);
  const chosen = WINDOWS[windowIndex]!;

  useEffect(() => {
    let gone = false;
    const to = new Date();
    api
      .metrics(id, new Date(to.getTime() - chosen.seconds * 1000), to, chosen.step)
      .then((series) => {
        if (gone) return;
        setPoints(series.points);
        setError(null);
        setVersion((v) => v + 1);
      })
      .catch((err: Error) => !gone && setError(err.message));
    const timer = window.setTimeout(() => setReload((n) => n + 1), HISTORY_REFRESH_MS);
    return () => {
      gone = true;
      window.clearTimeout(timer);
    };
  }, [api, id, windowIndex, reload]);

  const at = (points ?? []).map((p) => Date.parse(p.at) / 1000);
  // a point without egress was not measured (viewer sessions off): left out of its chart rather than drawn as 0
  const egress = (points ?? []).filter((p) => p.egress_bitrate !== null);
  return (
    <div class="history">
      <div class="heading-row">
        <h2>History</h2>
        <label>
          Window{' '}
          <select value={String(windowIndex)} onChange={(e) => setWindowIndex(Number(e.currentTarget.value))}>
            {WINDOWS.map((w, i) => (
              <option key={w.label} value={String(i)}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setReload((n) => n + 1)}>
          Refresh
        </button>
      </div>
      {error !== null && <p class="error">{error}</p>}
      {points !== null && points.length === 0 ? <p>No samples in this window.</p> : null}
      <div class="charts">
        <TimeChart title={`Mean ingest bitrate per ${chosen.step} s`} at={at} values={(points ?? []).map((p) => p.ingress_bitrate)} version={version} format={bitrate} color="#2f6fdf" />
        <TimeChart title={`Peak viewers per ${chosen.step} s`} at={at} values={(points ?? []).map((p) => p.peak_viewers)} version={version} format={count} color="#c0392b" />
        <TimeChart
          title={`Mean egress bitrate per ${chosen.step} s`}
          at={egress.map((p) => Date.parse(p.at) / 1000)}
          values={egress.map((p) => p.egress_bitrate!)}
          version={version}
          format={bitrate}
          color="#27ae60"
        />
      </div>
    </div>
  );
}
