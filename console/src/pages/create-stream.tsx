import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api, CreatedStream } from '../api.js';
import { CopyField } from '../components/copy-field.js';
import { href } from '../route.js';

/** Creates a stream and shows its key, once, with the settings OBS needs. */
export function CreateStream({ api }: { api: Api }) {
  const [title, setTitle] = useState('');
  const [isPrivate, setPrivate] = useState(false);
  const [created, setCreated] = useState<CreatedStream | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const result = useRef<HTMLHeadingElement>(null);

  useEffect(() => result.current?.focus(), [created]);

  if (created !== null) {
    return (
      <section aria-labelledby="created-title">
        <h1 id="created-title" tabIndex={-1} ref={result}>
          Stream created: {created.title || created.id}
        </h1>
        <p class="warning" role="note">
          The stream key is shown only now: the server keeps only its hash. Copy it into your encoder before leaving this page.
        </p>
        <CopyField label="Stream key" value={created.stream_key} secret />
        <CopyField label="Server URL" value={created.rtmp_url} />
        <h2>OBS settings</h2>
        <ol class="steps">
          <li>Settings → Stream: Service <b>Custom…</b>, Server: the server URL above, Stream Key: the stream key.</li>
          <li>Settings → Output (Advanced): Keyframe Interval <b>2 s</b> (the segment length), Rate Control CBR, x264 or a hardware H.264 encoder; audio AAC 48 kHz.</li>
          <li>Start Streaming. The stream page shows it live within a few seconds.</li>
        </ol>
        <h2>FFmpeg</h2>
        <CopyField label="Publish URL (server URL and key)" value={created.publish_url} secret />
        <p>
          <a class="button" href={href.stream(created.id)}>
            Open the stream page
          </a>
        </p>
      </section>
    );
  }

  return (
    <section aria-labelledby="create-title">
      <h1 id="create-title">New stream</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            setCreated(await api.createStream(title.trim(), isPrivate));
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="stream-title">Title</label>
        <input id="stream-title" maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        <label class="checkbox">
          <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.currentTarget.checked)} /> Private: viewers need a viewer token
        </label>
        <button type="submit" disabled={busy}>
          Create stream
        </button>
      </form>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
