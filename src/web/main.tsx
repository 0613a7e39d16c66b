import { render } from "preact";
import { takeKeyFromUrl } from "./api";
import { App } from "./app";
import "./styles.css";

// A sign-in link (`/#key=…` or `/?key=…`) stores the key and is stripped from the URL at once.
takeKeyFromUrl();
render(<App />, document.getElementById("app")!);
