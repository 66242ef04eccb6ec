import { useEffect, useState } from 'preact/hooks';
import type { Api, Stream } from '../api.js';
import { since } from '../format.js';
import { href } from '../route.js';

const POLL_MS = 5000;

/** The streams, newest first, with live status and viewers, refreshed every few seconds. */
export function StreamList({ api }: { api: Api }) {
  const [streams, setStreams] = useState<Stream[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let timer: number | undefined;
    let gone = false;
    const load = async (): Promise<void> => {
      try {
        const page = await api.listStreams();
        if (gone) return;
        setStreams(page.items);
        setError(null);
      } catch (err) {
        if (!gone) setError((err as Error).message);
      }
      if (!gone) timer = window.setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      gone = true;
      window.clearTimeout(timer);
    };
  }, [api]);

  return (
    <section aria-labelledby="streams-title">
      <div class="heading-row">
        <h1 id="streams-title">Streams</h1>
        <a class="button" href={href.create}>
          New stream
        </a>
      </div>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {streams === null ? (
        <p>Loading…</p>
      ) : streams.length === 0 ? (
        <p>No streams yet. Create one, then publish to it from OBS or FFmpeg.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Streams, newest first; refreshed every {POLL_MS / 1000} seconds</caption>
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Status</th>
                <th scope="col">Viewers</th>
                <th scope="col">Live for</th>
              </tr>
            </thead>
            <tbody>
              {streams.map((stream) => (
                <tr key={stream.id}>
                  <td>
                    <a href={href.stream(stream.id)}>{stream.title || stream.id}</a>
                    {stream.private && <span class="tag">private</span>}
                  </td>
                  <td>
                    <span class={`status status-${stream.status.toLowerCase()}`}>{stream.status === 'ACTIVE' ? 'live' : stream.status.toLowerCase()}</span>
                  </td>
                  <td class="number">{stream.status === 'ACTIVE' ? stream.viewers : '–'}</td>
                  <td>{stream.status === 'ACTIVE' ? since(stream.started_at) : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
