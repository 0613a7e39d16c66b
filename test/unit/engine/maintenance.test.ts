import { afterEach, describe, expect, it } from "vitest";
import { Maintenance } from "../../../src/engine/maintenance.js";
import { Recovery } from "../../../src/engine/recovery.js";
import { LocalSignals } from "../../../src/engine/signals.js";
import { FakeStore } from "./fake-store.js";
import { captureLogger, waitFor } from "./harness.js";

describe("maintenance", () => {
  let maintenance: Maintenance | undefined;
  afterEach(async () => {
    await maintenance?.stop();
    maintenance = undefined;
  });

  it("reads the lease holders once a run and scans for expired leases only once one has run out", async () => {
    const store = new FakeStore();
    const [held, expiring] = store.addItems(2);
    await store.items.claim("me", 1, 60_000, Date.now());
    let runs = 0;
    let reaps = 0;
    const { leaseHolders, reapExpired } = store.items;
    store.items.leaseHolders = async () => {
      runs++;
      return leaseHolders();
    };
    store.items.reapExpired = async (now, quarantineAfter) => {
      reaps++;
      return reapExpired(now, quarantineAfter);
    };
    const { logger } = captureLogger();
    const signals = new LocalSignals();
    const recovery = new Recovery({ store, owner: "me", config: { quarantineAfter: 3 }, signals, logger });
    maintenance = new Maintenance({
      store,
      config: { leaseMs: 500, pollIntervalMs: 250, quarantineAfter: 3 },
      signals,
      logger,
      recovery,
    });
    maintenance.start();
    await waitFor(() => runs >= 2, "two maintenance runs");
    // Every lease runs for another minute: no run scanned for expired ones.
    expect(reaps).toBe(0);
    expect(store.status(held)).toBe("processing");

    // A lease that has run out is reaped at the next run: its item is pending again.
    await store.items.claim("me", 1, 1, Date.now() - 10);
    expect(store.status(expiring)).toBe("processing");
    await waitFor(() => store.status(expiring) === "pending", "the expired item to be reaped");
    expect(reaps).toBeGreaterThan(0);
    expect(store.status(held)).toBe("processing");
  });
});
