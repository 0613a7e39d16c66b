import { hostname } from "node:os";

/**
 * The identity of an engine instance, written as the lease owner of what it claims:
 * `host:pid:random`. From it, a process on the same host can tell whether an earlier instance
 * is dead, without waiting for its leases to run out.
 */
export function newOwnerId(): string {
  return `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Whether the instance `owner` is certainly dead, as this process can see it: it ran on this
 * host and its process is gone, or it had this very process id (an earlier run of this
 * process, e.g. pid 1 of a restarted container). Another host, or a live process (a second
 * server on the same SQLite file by mistake): not known dead; its leases are left to expire.
 */
export function knownDead(owner: string, self: string): boolean {
  if (owner === self) return false;
  const parts = owner.split(":");
  if (parts.length < 3) return false;
  const pid = Number(parts[parts.length - 2]);
  const host = parts.slice(0, -2).join(":");
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
