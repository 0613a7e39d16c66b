/**
 * The guard against webhook targets inside the network agentbatch runs in (SSRF): loopback,
 * private, link-local, CGNAT, cloud metadata, unspecified, multicast and reserved addresses
 * (ipaddr.js's ranges: only `unicast` passes), and IPv6 addresses that reach IPv4 space
 * (IPv4-mapped and -compatible and NAT64 64:ff9b::/96, judged by the IPv4 address inside; 6to4
 * and Teredo, refused), are refused unless `webhooks.allowPrivateTargets` is on. The check runs
 * at send time on every address the name resolves to, and the connection is made to those
 * checked addresses (the agent's `lookup` is this guard), so a name cannot be re-pointed between
 * the check and the connect.
 */
import type { LookupAddress } from "node:dns";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

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

/**
 * ipaddr.js names every special range (`range()`); only `unicast` is a public address. The
 * labels below word the refusal; a range not listed is refused by its ipaddr.js name.
 */
const KIND_OF_RANGE: Record<string, string> = {
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link-local",
  loopback: "loopback",
  carrierGradeNat: "carrier-grade NAT",
  private: "private",
  uniqueLocal: "private (unique local)",
  reserved: "reserved",
  benchmarking: "benchmarking",
  deprecatedSiteLocal: "site-local",
  discard: "discard-only",
  "6to4": "6to4 (IPv4 reachable through 2002::/16)",
  teredo: "Teredo (IPv4 reachable through 2001::/32)",
};

/** Cloud metadata endpoints, named in the refusal (they fall in link-local and unique local). */
const METADATA = new Set(["169.254.169.254", "fd00:ec2::254"]);

/** The IPv4 address inside an IPv6 address that translates to IPv4 space, else null. */
function embeddedIpv4(ip: ipaddr.IPv6, range: string): ipaddr.IPv4 | null {
  const parts = ip.parts;
  const last32 = () =>
    ipaddr.IPv4.parse(`${parts[6] >> 8}.${parts[6] & 255}.${parts[7] >> 8}.${parts[7] & 255}`);
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (RFC 6145), 64:ff9b::a.b.c.d (NAT64, RFC 6052).
  if (range === "ipv4Mapped" || range === "rfc6145") return last32();
  if (range === "rfc6052" && parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0)
    return last32();
  // ::a.b.c.d (IPv4-compatible, deprecated): the first 96 bits zero.
  if (range === "unicast" && parts.slice(0, 6).every((p) => p === 0)) return last32();
  return null;
}

function kindOf(ip: ipaddr.IPv4 | ipaddr.IPv6, text: string): string | null {
  if (METADATA.has(text)) return "cloud metadata";
  const range = ip.range();
  if (ip.kind() === "ipv6") {
    const v4 = embeddedIpv4(ip as ipaddr.IPv6, range);
    if (v4) return kindOf(v4, v4.toString());
    // The local-use NAT64 prefix 64:ff9b:1::/48 reaches whatever the local translator serves.
    if (range === "rfc6052") return "local-use NAT64";
  }
  if (range === "unicast") return null;
  if (range === "unspecified" && ip.kind() === "ipv4") return "unspecified ('this network')";
  return KIND_OF_RANGE[range] ?? range;
}

/** Why an IP address may not be a webhook target (`"loopback"`...), or null when it may. */
export function forbiddenAddressKind(address: string): string | null {
  const text = address.replace(/^\[|\]$/g, "").toLowerCase();
  if (!ipaddr.isValid(text) || isIP(text) === 0) return "not an IP address";
  const ip = ipaddr.parse(text);
  return kindOf(ip, ip.toString());
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
