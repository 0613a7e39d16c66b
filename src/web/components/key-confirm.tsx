import { useEffect, useState } from "preact/hooks";
import { answerLinkKey, pendingLinkKey } from "../api";

/** Asks before a sign-in link's key replaces a different key already stored in this browser. */
export function KeyConfirm() {
  const [key, setKeyShown] = useState(pendingLinkKey());
  useEffect(() => {
    const update = () => setKeyShown(pendingLinkKey());
    window.addEventListener("agentbatch:key-pending", update);
    return () => window.removeEventListener("agentbatch:key-pending", update);
  }, []);
  if (!key) return null;
  const answer = (replace: boolean) => {
    answerLinkKey(replace);
    setKeyShown(null);
  };
  return (
    <section class="card key-confirm" role="alertdialog" aria-labelledby="key-confirm-title">
      <h2 id="key-confirm-title">Switch API key?</h2>
      <p>
        This link signs in with a different API key (<code>{key.slice(0, 7)}…</code>) than the one stored in
        this browser. Replacing it switches the dashboard to that key's workspace.
      </p>
      <div class="row">
        <button type="button" class="primary" data-action="replace-key" onClick={() => answer(true)}>
          Replace key
        </button>
        <button type="button" data-action="keep-key" onClick={() => answer(false)}>
          Keep current key
        </button>
      </div>
    </section>
  );
}
