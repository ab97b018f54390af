import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { SourceNotAllowedError } from '../errors/image-resize.errors';

/** Which remote sources may be fetched. */
export interface SourcePolicyOptions {
  /** Hosts that may be fetched: exact names, or `*.example.com` for its subdomains. Absent: any host. */
  allowedHosts?: readonly string[];
  /** Private, loopback and other non-public addresses: refused (`false`), allowed (`true`), or allowed for these hosts. */
  allowPrivateNetworks: boolean | readonly string[];
}

/** Error code of a connection refused by the policy, so that the HTTP layer can answer 403. */
export const SOURCE_REFUSED_CODE = 'E_IMAGE_SOURCE_REFUSED';

const ALLOWED_PROTOCOLS = new Set(['http:', 'https:']);

/**
 * Whether an IP address is a public unicast address. Loopback, unspecified, private (RFC 1918),
 * CGNAT, link-local (cloud metadata), unique-local, multicast, broadcast, reserved and documentation
 * ranges, and IPv6 forms that embed an IPv4 address (6to4, NAT64, Teredo) are not; an IPv4-mapped
 * IPv6 address is judged by its IPv4 address. Anything that does not parse is not public.
 */
export function isPublicAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare)) return false;
  return ipaddr.process(bare).range() === 'unicast';
}

function normaliseHost(host: string): string {
  const lower = host.trim().toLowerCase().replace(/\.$/, '');
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

/** A refusal; `host` is kept for debug logs unless it is an address (see {@link SourceNotAllowedError.refusedHost}). */
function refused(message: string, host?: string): SourceNotAllowedError & { code: string } {
  return Object.assign(new SourceNotAllowedError(message, { refusedHost: host }), {
    code: SOURCE_REFUSED_CODE,
  });
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * Decides which sources may be fetched. The scheme, the host allowlist and a literal IP address are
 * checked on the URL of every hop (first request and each redirect); a host name is checked on the
 * addresses it resolves to, at connect time, through {@link SourceAddressPolicy.lookup} — the address
 * that is checked is the address that is connected to, so DNS rebinding cannot slip past.
 */
export class SourceAddressPolicy {
  private readonly exactHosts?: Set<string>;
  private readonly wildcardSuffixes: string[] = [];
  private readonly privateHosts: Set<string> | boolean;

  constructor(options: SourcePolicyOptions) {
    if (options.allowedHosts) {
      this.exactHosts = new Set();
      for (const entry of options.allowedHosts.map(normaliseHost)) {
        if (entry.startsWith('*.')) this.wildcardSuffixes.push(entry.slice(1));
        else this.exactHosts.add(entry);
      }
    }
    const allowPrivate = options.allowPrivateNetworks;
    this.privateHosts =
      typeof allowPrivate === 'boolean' ? allowPrivate : new Set(allowPrivate.map(normaliseHost));
  }

  /** Throws a 403 {@link SourceNotAllowedError} when the URL's scheme or host may not be fetched. */
  /** Parses `url` and checks it with {@link checkUrl}. */
  parseUrl(url: string): URL {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new SourceNotAllowedError('Image source URL is not valid');
    }
    this.checkUrl(parsed);
    return parsed;
  }

  checkUrl(url: URL): void {
    if (!ALLOWED_PROTOCOLS.has(url.protocol)) throw refused('Image source URL must use http or https');
    const host = normaliseHost(url.hostname);
    if (!this.isHostAllowed(host)) throw refused('Image source host is not allowed', host);
    if (ipaddr.isValid(host) && !isPublicAddress(host) && !this.mayUsePrivate(host)) {
      throw refused('Image source address is not allowed', host);
    }
  }

  /** Whether `host` is on the allowlist (or there is none). */
  isHostAllowed(host: string): boolean {
    const name = normaliseHost(host);
    if (!this.exactHosts) return true;
    return this.exactHosts.has(name) || this.wildcardSuffixes.some((suffix) => name.endsWith(suffix));
  }

  /** Whether `host` may resolve to, or be, a non-public address. */
  mayUsePrivate(host: string): boolean {
    return typeof this.privateHosts === 'boolean'
      ? this.privateHosts
      : this.privateHosts.has(normaliseHost(host));
  }

  /**
   * A `dns.lookup` for HTTP agents that drops the non-public addresses of a host that may not use
   * them, and fails with {@link SOURCE_REFUSED_CODE} when none is left.
   */
  readonly lookup = (
    hostname: string,
    options: number | LookupOptions | undefined,
    callback: LookupCallback,
  ): void => {
    const requested: LookupOptions = typeof options === 'number' ? { family: options } : { ...options };
    const all: LookupAllOptions = { ...requested, all: true };
    dnsLookup(hostname, all, (error, addresses) => {
      if (error) return callback(error, requested.all ? [] : '');
      const usable = this.mayUsePrivate(hostname)
        ? addresses
        : addresses.filter((entry) => isPublicAddress(entry.address));
      if (usable.length === 0) {
        return callback(
          refused('Image source address is not allowed', normaliseHost(hostname)),
          requested.all ? [] : '',
        );
      }
      if (requested.all) return callback(null, usable);
      callback(null, usable[0].address, usable[0].family);
    });
  };
}
