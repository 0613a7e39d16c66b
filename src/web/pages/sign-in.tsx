import { useState } from "preact/hooks";
import { setKey } from "../api";
import { errorText } from "../format";

/** Asks for an API key and checks it against the API before keeping it. */
export function SignInPage() {
  const [key, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await fetch("/api/v1/batches?limit=1", { headers: { "x-api-key": key.trim() } });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        throw new Error(body?.message ?? `The server answered ${res.status}`);
      }
      setKey(key);
      window.dispatchEvent(new Event("agentbatch:signed-in"));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card narrow">
      <h1>Sign in</h1>
      <p class="muted">
        Paste an API key of your workspace. It stays in this browser (localStorage) and is sent as{" "}
        <code>x-api-key</code>. <code>npm start</code> prints a sign-in link for the demo key.
      </p>
      <form onSubmit={submit} class="stack">
        <input
          type="password"
          name="api-key"
          autoComplete="off"
          placeholder="ab_…"
          value={key}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        {error && <p class="error">{error}</p>}
      </form>
    </section>
  );
}
