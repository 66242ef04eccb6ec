import { render } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { Api } from './api.js';
import { CreateStream } from './pages/create-stream.js';
import { SignIn } from './pages/sign-in.js';
import { StreamList } from './pages/stream-list.js';
import { StreamPage } from './pages/stream-page.js';
import { WatchPage } from './pages/watch-page.js';
import { href, useRoute } from './route.js';
import { loadSession, saveSession, type Session } from './session.js';

/** The console: the watch page is public; every other page needs a signed-in session. */
function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null>(loadSession);
  const api = useMemo(() => (session === null ? null : new Api(session)), [session]);

  if (route.page === 'watch') return <WatchPage id={route.id} token={route.token} />;

  const signOut = (): void => {
    saveSession(null);
    setSession(null);
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href.list}>
          nova-streaming
        </a>
        {session !== null && (
          <nav aria-label="Console">
            <a href={href.list} aria-current={route.page === 'list' ? 'page' : undefined}>
              Streams
            </a>
            <a href={href.create} aria-current={route.page === 'new' ? 'page' : undefined}>
              New stream
            </a>
            <a href="/api/docs">API</a>
            <button type="button" class="link" onClick={signOut}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {api === null ? (
          <SignIn
            onSignedIn={(signedIn) => {
              saveSession(signedIn);
              setSession(signedIn);
            }}
          />
        ) : route.page === 'list' ? (
          <StreamList api={api} />
        ) : route.page === 'new' ? (
          <CreateStream api={api} />
        ) : route.page === 'stream' ? (
          <StreamPage key={route.id} api={api} id={route.id} />
        ) : (
          <p>
            No such page. <a href={href.list}>Back to the streams</a>
          </p>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
