import { useState } from 'preact/hooks';
import { ApiError, checkSession, signInWithClient } from '../api.js';
import type { Session } from '../session.js';

/** Sign in with the admin token, or with an API client's id and secret (OAuth2 client credentials). */
export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const attempt = async (make: () => Promise<Session>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const session = await make();
      await checkSession(session);
      onSignedIn(session);
    } catch (err) {
      setError(err instanceof ApiError && (err.status === 401 || err.status === 400) ? `Refused: ${err.message}` : `Could not sign in: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(async () => ({ kind: 'admin', accessToken: token.trim() }));
        }}
      >
        <label for="admin-token">Admin token</label>
        <input id="admin-token" type="password" autocomplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        <p class="hint">Printed in the server's log at first start and kept in DATA_DIR/admin-token (or ADMIN_TOKEN).</p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <details>
        <summary>Sign in with an API client</summary>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void attempt(() => signInWithClient(clientId.trim(), clientSecret.trim()));
          }}
        >
          <label for="client-id">Client id</label>
          <input id="client-id" autocomplete="username" required value={clientId} onInput={(e) => setClientId(e.currentTarget.value)} />
          <label for="client-secret">Client secret</label>
          <input id="client-secret" type="password" autocomplete="current-password" required value={clientSecret} onInput={(e) => setClientSecret(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>
            Sign in with client
          </button>
        </form>
      </details>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
