import { render } from "preact";
import { takeKeyFromUrl } from "./api";
import { App } from "./app";
import "./styles.css";

// A sign-in link (`/#key=…` or `/?key=…`) stores the key and is stripped from the URL at once.
takeKeyFromUrl();
// A sign-in link opened in a tab already showing the dashboard changes only the hash.
window.addEventListener("hashchange", () => {
  const taken = takeKeyFromUrl();
  window.dispatchEvent(new Event(taken ? "agentbatch:signed-in" : "agentbatch:key-pending"));
});
render(<App />, document.getElementById("app")!);
