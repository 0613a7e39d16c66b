/**
 * The guard against webhook targets inside the network agentbatch runs in (SSRF): loopback,
 * private, link-local, CGNAT, cloud metadata, unspecified and multicast addresses are refused
 * unless `webhooks.allowPrivateTargets` is on. The check runs at send time on every address the
 * name resolves to, and the connection is made to those checked addresses (the agent's `lookup`
 * is this guard), so a name cannot be re-pointed between the check and the connect.
 */
import type { LookupAddress } from "node:dns";
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

export interface GuardOptions {
  allowPrivateTargets: boolean;
  allowHttp: boolean;
}

/** A target the guard will not send to; the delivery fails with this message and is not retried. */
export class TargetRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetRefusedError";
  }
}

const RANGES: [cidr: string, kind: string][] = [
  ["0.0.0.0/8", "unspecified ('this network')"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "carrier-grade NAT"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.169.254/32", "cloud metadata"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "IETF protocol assignment"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "benchmarking"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["fd00:ec2::254/128", "cloud metadata"],
  ["fc00::/7", "private (unique local)"],
  ["fe80::/10", "link-local"],
  ["ff00::/8", "multicast"],
];

const BLOCKS = RANGES.map(([cidr, kind]) => {
  const [network, prefix] = cidr.split("/");
  const family = isIP(network) === 6 ? "ipv6" : "ipv4";
  const list = new BlockList();
  list.addSubnet(network, Number(prefix), family);
  return { family, list, kind };
});

/** `::ffff:127.0.0.1` and `::ffff:7f00:1` → `127.0.0.1`; anything else unchanged. */
function unmapIpv4(address: string): string {
  const lower = address.toLowerCase();
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return address;
  const hi = Number.parseInt(hex[1], 16);
  const lo = Number.parseInt(hex[2], 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}

/** Why an IP address may not be a webhook target (`"loopback"`...), or null when it may. */
export function forbiddenAddressKind(address: string): string | null {
  const ip = unmapIpv4(address.replace(/^\[|\]$/g, ""));
  const family = isIP(ip) === 6 ? "ipv6" : isIP(ip) === 4 ? "ipv4" : null;
  if (!family) return "not an IP address";
  for (const b of BLOCKS) if (b.family === family && b.list.check(ip, family)) return b.kind;
  return null;
}

function refusal(host: string, address: string, kind: string): TargetRefusedError {
  const resolved = host === address ? "" : ` (resolves to ${address})`;
  return new TargetRefusedError(
    `refused: ${host}${resolved} is a ${kind} address; webhooks are not sent into private networks unless webhooks.allow_private_targets in the config file (or AGENTBATCH_WEBHOOK_ALLOW_PRIVATE=1) is set`,
  );
}

/**
 * Checks what can be checked before connecting: the scheme, and a host written as an IP
 * address (no DNS lookup happens for those). Throws TargetRefusedError.
 */
export function checkTargetUrl(raw: string, options: GuardOptions): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefusedError(`refused: ${raw} is not an absolute URL`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && options.allowHttp)) {
    throw new TargetRefusedError(
      `refused: ${url.protocol}// targets are not allowed; use https; for local development set webhooks.allow_http in the config file (or AGENTBATCH_WEBHOOK_ALLOW_HTTP=1)`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!options.allowPrivateTargets && isIP(host)) {
    const kind = forbiddenAddressKind(host);
    if (kind) throw refusal(host, host, kind);
  }
  return url;
}

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/tls connect: resolves every address of the name and refuses them all if
 * any is forbidden (a name pointing partly inside is not trusted), then hands exactly those
 * checked addresses to the socket.
 */
export function guardedLookup(options: GuardOptions) {
  return (hostname: string, opts: { all?: boolean; family?: number | string }, callback: LookupCallback) => {
    lookup(hostname, { all: true, verbatim: true }).then(
      (addresses) => {
        if (!options.allowPrivateTargets) {
          for (const a of addresses) {
            const kind = forbiddenAddressKind(a.address);
            if (kind) return callback(refusal(hostname, a.address, kind), []);
          }
        }
        if (addresses.length === 0) return callback(new Error(`${hostname} has no address`), []);
        if (opts.all) return callback(null, addresses);
        callback(null, addresses[0].address, addresses[0].family);
      },
      (err: Error) => callback(err, []),
    );
  };
}
