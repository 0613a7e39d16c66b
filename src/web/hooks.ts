import { useState } from "preact/hooks";
import { errorText } from "./format";

/**
 * One user action at a time: `busy` names the running one (buttons show "…" and disable), and
 * its failure, if any, is kept as `error` until the next action starts.
 */
export function useBusyAction() {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async (label: string, work: () => Promise<unknown>) => {
    setBusy(label);
    setError(null);
    try {
      await work();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, run };
}
