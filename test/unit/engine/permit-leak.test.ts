import { expect, it } from "vitest";
import { engineWith, waitFor } from "./harness.js";

it("gives the rate-limit permit back when the provider throws (batch path)", async () => {
  // One permit at a time: a leaked permit would stall the second item for good.
  const { engine, store, limiters } = engineWith(
    async () => {
      throw new Error("provider bug");
    },
    { maxConcurrency: 1 },
  );
  const ids = store.addItems(2);
  engine.start();
  try {
    await waitFor(() => store.committed.length === 2, "both items' outcomes to be committed");
    expect(store.committed.map((o) => [o.itemId, o.kind])).toEqual(ids.map((id) => [id, "failed"]));
    expect(store.committed[0]).toMatchObject({ errorCode: 500 });
    expect(limiters.get("fake").running).toBe(0);
  } finally {
    await engine.stop(100);
  }
});
