import { useEffect, useState } from 'preact/hooks';
import { discoverLive } from '../api.js';
import { Player } from '../components/player.js';
import { hlsUrlFor, wsUrlFor } from '../format.js';
import { useStreamFeed } from '../stream-feed.js';

/**
 * The public watch page, /watch/:id: the player and the live viewer count,
 * no sign-in. A private stream's link carries a viewer token (?token=),
 * which goes on the playlist and the WebSocket.
 */
export function WatchPage({ id, token }: { id: string; token: string | null }) {
  const feed = useStreamFeed(wsUrlFor(id, token));
  const [title, setTitle] = useState<string | null>(null);
  const live = feed.state.live && feed.state.ended === null;

  useEffect(() => {
    // the title is public for public live streams only: discovery lists them
    if (!live || token !== null) return;
    discoverLive()
      .then((page) => setTitle(page.items.find((item) => item.id === id)?.title ?? null))
      .catch(() => {});
  }, [id, token, live]);

  useEffect(() => {
    document.title = title ? `${title} · nova-streaming` : 'Live · nova-streaming';
  }, [title]);

  const heading = title || 'Live stream';
  let message: string | null = null;
  if (feed.state.connection === 'refused') message = token === null ? 'This stream is private: its link needs a viewer token.' : `This link does not open the stream: ${feed.state.refusal}.`;
  else if (feed.state.ended !== null) message = 'The stream has ended.';
  else if (feed.state.connection === 'open' && !live) message = 'The stream is not live yet. This page starts playing when it is.';
  else if (feed.state.connection !== 'open') message = 'Connecting…';

  return (
    <main class="watch" aria-labelledby="watch-title">
      <h1 id="watch-title">{heading}</h1>
      {live ? <Player src={hlsUrlFor(id, token)} title={heading} /> : <div class="player-placeholder">{message}</div>}
      <p class="watch-bar" aria-live="polite">
        {live && (
          <span class="status status-active" data-testid="watch-live">
            live
          </span>
        )}{' '}
        <span>
          watching now: <b data-testid="watch-viewers">{feed.state.viewers ?? '–'}</b>
        </span>
      </p>
      {live && message !== null && <p class="notice">{message}</p>}
    </main>
  );
}
