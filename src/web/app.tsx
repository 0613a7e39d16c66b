import { useEffect, useState } from "preact/hooks";
import { clearKey, getKey } from "./api";
import { KeyConfirm } from "./components/key-confirm";
import { AgentsPage } from "./pages/agents";
import { BatchPage } from "./pages/batch";
import { BatchesPage } from "./pages/batches";
import { NewBatchPage } from "./pages/new-batch";
import { SignInPage } from "./pages/sign-in";
import { Link, navigate, usePath } from "./router";

function useSignedIn(): boolean {
  const [signedIn, setSignedIn] = useState(getKey() !== null);
  useEffect(() => {
    const update = () => setSignedIn(getKey() !== null);
    window.addEventListener("agentbatch:signed-in", update);
    window.addEventListener("agentbatch:signed-out", update);
    window.addEventListener("storage", update);
    return () => {
      window.removeEventListener("agentbatch:signed-in", update);
      window.removeEventListener("agentbatch:signed-out", update);
      window.removeEventListener("storage", update);
    };
  }, []);
  return signedIn;
}

function Page(props: { path: string }) {
  const { path } = props;
  const batch = /^\/batches\/([^/]+)\/?$/.exec(path);
  if (batch) return <BatchPage id={decodeURIComponent(batch[1])} />;
  if (path === "/new" || path === "/batches/new") return <NewBatchPage />;
  if (path === "/agents") return <AgentsPage />;
  return <BatchesPage />;
}

export function App() {
  const path = usePath();
  const signedIn = useSignedIn();
  const section = path.startsWith("/agents") ? "agents" : path === "/new" ? "new" : "batches";
  return (
    <>
      <header class="top">
        <Link href="/" class="brand">
          <svg viewBox="0 0 16 16" width="18" height="18" aria-hidden="true">
            <rect width="16" height="16" rx="3" fill="currentColor" />
            <path d="M4 11h2V6H4zm3 0h2V4H7zm3 0h2V8h-2z" fill="white" />
          </svg>
          agentbatch
        </Link>
        {signedIn && (
          <nav>
            <Link href="/" class={section === "batches" ? "active" : ""}>
              Batches
            </Link>
            <Link href="/new" class={section === "new" ? "active" : ""}>
              New batch
            </Link>
            <Link href="/agents" class={section === "agents" ? "active" : ""}>
              Agents
            </Link>
            <a href="/docs" target="_blank" rel="noreferrer">
              API docs
            </a>
            <button
              type="button"
              class="linklike"
              onClick={() => {
                clearKey();
                navigate("/");
              }}
            >
              Sign out
            </button>
          </nav>
        )}
      </header>
      <main>
        <KeyConfirm />
        {signedIn ? <Page path={path} /> : <SignInPage />}
      </main>
    </>
  );
}
