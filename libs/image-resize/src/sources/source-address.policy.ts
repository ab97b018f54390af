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
 * `::a.b.c.d`, which ipaddr.js reads as the IPv4-mapped `::ffff:a.b.c.d`, though it is the
 * IPv4-compatible `::/96` (WHATWG URLs and Node's DNS print it either way).
 */
const DOTTED_IPV4_COMPATIBLE = /^::[^:]*\./;

/**
 * Whether an IP address is a public unicast address. Not public: loopback, unspecified, private
 * (RFC 1918), CGNAT, link-local (cloud metadata), unique-local, multicast, broadcast, reserved and
 * documentation ranges; every IPv6 range made to carry IPv4 — IPv4-compatible `::/96` (deprecated),
 * IPv4-translated `::ffff:0:0:0/96`, 6to4 `2002::/16`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`,
 * Teredo `2001::/32` — whatever IPv4 address it carries. An IPv4-mapped address (`::ffff:0:0/96`)
 * and an ISATAP interface id (`<prefix>:0:5efe:a.b.c.d`, u/g bits ignored) are judged by the IPv4
 * address they hold. Anything that does not parse is not public.
 */
export function isPublicAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare) || DOTTED_IPV4_COMPATIBLE.test(bare)) return false;
  const parsed = ipaddr.parse(bare);
  return parsed.kind() === 'ipv4' ? parsed.range() === 'unicast' : isPublicIPv6(parsed as ipaddr.IPv6);
}

function isPublicIPv6(address: ipaddr.IPv6): boolean {
  const range = address.range();
  if (range === 'ipv4Mapped') return address.toIPv4Address().range() === 'unicast';
  if (range !== 'unicast') return false;
  const [a, b, c, d, e, f, g, h] = address.parts;
  // ::/96 (IPv4-compatible): ipaddr.js 2.5 calls all of it unicast but `::` and `::1`.
  if ((a | b | c | d | e | f) === 0) return false;
  // ISATAP (RFC 5214): a host with an ISATAP interface on this prefix would send it to the IPv4 address.
  if ((e & 0xfcff) === 0 && f === 0x5efe) {
    return new ipaddr.IPv4([g >> 8, g & 0xff, h >> 8, h & 0xff]).range() === 'unicast';
  }
  return true;
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
