import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { SourceNotAllowedError } from '../errors/image-resize.errors';
import { isPublicAddress, SOURCE_REFUSED_CODE, SourceAddressPolicy } from './source-address.policy';

/** The library's own package.json: the ipaddr.js an installed library gets is resolved from its folder. */
const LIBRARY_PACKAGE = join(__dirname, '..', '..', 'package.json');

/** Whether `version` satisfies a caret range `^x.y.z` (the only form the library declares). */
function satisfiesCaret(version: string, range: string): boolean {
  const wanted = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range);
  const got = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!wanted || !got) throw new Error(`cannot compare ${version} with ${range}: teach this test the form`);
  const [w, g] = [wanted.slice(1).map(Number), got.slice(1).map(Number)];
  if (w[0] > 0) return g[0] === w[0] && (g[1] > w[1] || (g[1] === w[1] && g[2] >= w[2]));
  return g[0] === 0 && g[1] === w[1] && g[2] >= w[2];
}

describe('the ipaddr.js the policy runs against', () => {
  const declared = JSON.parse(readFileSync(LIBRARY_PACKAGE, 'utf8')).dependencies['ipaddr.js'];
  const resolved = createRequire(LIBRARY_PACKAGE).resolve('ipaddr.js');

  it('is the version the library declares, resolved from the library folder', () => {
    let folder = dirname(resolved);
    while (!existsSync(join(folder, 'package.json'))) folder = dirname(folder);
    const installed = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
    expect(installed.name).toBe('ipaddr.js');
    expect(satisfiesCaret(installed.version, declared)).toBe(true);
  });

  it('is the module the policy imports', () => {
    expect(require.resolve('ipaddr.js')).toBe(resolved);
    const parse = jest.spyOn(ipaddr, 'parse');
    try {
      isPublicAddress('::a00:1');
      isPublicAddress('8.8.8.8');
      expect(parse).toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });
});

describe('isPublicAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'IPv6 loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'IPv6 unspecified'],
    ['10.0.0.1', 'RFC 1918'],
    ['172.16.5.4', 'RFC 1918'],
    ['172.31.255.255', 'RFC 1918'],
    ['192.168.1.1', 'RFC 1918'],
    ['100.64.0.1', 'CGNAT'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['fe80::1', 'IPv6 link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'IPv6 multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['2001:db8::1', 'IPv6 documentation'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['[::ffff:7f00:1]', 'IPv4-mapped loopback, hex, bracketed'],
    ['[::127.0.0.1]', 'IPv4-compatible loopback, dotted'],
    ['::7f00:1', 'IPv4-compatible loopback, as URL and DNS print it'],
    ['0:0:0:0:0:0:127.0.0.1', 'IPv4-compatible loopback, long form'],
    ['[::a9fe:a9fe]', 'IPv4-compatible link-local (cloud metadata)'],
    ['::169.254.169.254', 'IPv4-compatible link-local, dotted'],
    ['[::a00:1]', 'IPv4-compatible RFC 1918'],
    ['::c0a8:101', 'IPv4-compatible RFC 1918'],
    ['::808:808', 'IPv4-compatible, public IPv4 (::/96 is deprecated, never routed)'],
    ['::8.8.8.8', 'IPv4-compatible, public IPv4, dotted'],
    ['::2', 'IPv4-compatible 0.0.0.2'],
    ['::ffff:0:7f00:1', 'IPv4-translated (RFC 6145)'],
    ['::ffff:0:808:808', 'IPv4-translated (RFC 6145), public IPv4'],
    ['2002:7f00:1::1', '6to4 of loopback'],
    ['2002:a9fe:a9fe::1', '6to4 of link-local'],
    ['2002:808:808::1', '6to4 of a public IPv4 (all of 2002::/16)'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of link-local'],
    ['64:ff9b::808:808', 'NAT64 of a public IPv4 (all of 64:ff9b::/96)'],
    ['64:ff9b:1::a00:1', 'local-use NAT64 (64:ff9b:1::/48)'],
    ['64:ff9b:1:ffff::1', 'local-use NAT64 (64:ff9b:1::/48)'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo (all of 2001::/32)'],
    ['2001::1', 'Teredo'],
    ['2606:4700:1::5efe:7f00:1', 'ISATAP interface id of loopback'],
    ['2606:4700:1::200:5efe:a9fe:a9fe', 'ISATAP interface id (u bit) of link-local'],
    ['2606:4700:1:0:0:5efe:10.0.0.1', 'ISATAP interface id of RFC 1918, dotted'],
    ['2606:4700:1:0:300:5efe:c0a8:101', 'ISATAP interface id (u and g bits) of RFC 1918'],
    ['fe80::5efe:a00:1', 'ISATAP link-local'],
    ['::ffff:7f00:1%eth0', 'IPv4-mapped with a zone'],
    ['localhost', 'a name, not an address'],
    ['', 'nothing'],
  ])('refuses %s (%s)', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '[::ffff:808:808]',
    '2606:4700:1::5efe:808:808',
    '2606:4700:1::200:5efe:8.8.8.8',
    '2606:4700:1::5eff:7f00:1',
  ])('accepts the public address %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe('SourceAddressPolicy', () => {
  const url = (text: string) => new URL(text);
  const refusal = (policy: SourceAddressPolicy, text: string) => {
    try {
      policy.checkUrl(url(text));
    } catch (error) {
      return error;
    }
    return undefined;
  };

  it('refuses other schemes and private literal addresses, in any spelling, by default', () => {
    const policy = new SourceAddressPolicy({ allowPrivateNetworks: false });
    for (const text of [
      'file:///etc/passwd',
      'ftp://example.com/a.png',
      'gopher://example.com/',
      'data:image/png;base64,AAAA',
      'http://127.0.0.1/a.png',
      'http://2130706433/a.png',
      'http://0x7f.1/a.png',
      'http://0177.0.0.1/a.png',
      'http://127.1/a.png',
      'http://[::1]/a.png',
      'http://[::ffff:127.0.0.1]/a.png',
      'http://[::127.0.0.1]/a.png',
      'http://[::a9fe:a9fe]/latest/meta-data/',
      'http://[::a00:1]/a.png',
      'http://[64:ff9b::a9fe:a9fe]/a.png',
      'http://169.254.169.254/latest/meta-data/',
      'http://0.0.0.0/',
    ]) {
      const error = refusal(policy, text);
      expect(error).toBeInstanceOf(SourceNotAllowedError);
      expect((error as { code?: string }).code).toBe(SOURCE_REFUSED_CODE);
    }
    expect(refusal(policy, 'https://8.8.8.8/logo.png')).toBeUndefined();
    expect(refusal(policy, 'https://cdn.example.com/logo.png')).toBeUndefined();
  });

  it('keeps to the host allowlist, with *.domain for subdomains only', () => {
    const policy = new SourceAddressPolicy({
      allowedHosts: ['cdn.example.com', '*.images.example.org'],
      allowPrivateNetworks: false,
    });
    expect(refusal(policy, 'https://CDN.example.com/a.png')).toBeUndefined();
    expect(refusal(policy, 'https://a.images.example.org/a.png')).toBeUndefined();
    expect(refusal(policy, 'https://x.y.images.example.org/a.png')).toBeUndefined();
    expect(refusal(policy, 'https://images.example.org/a.png')).toBeInstanceOf(SourceNotAllowedError);
    expect(refusal(policy, 'https://evilimages.example.org/a.png')).toBeInstanceOf(SourceNotAllowedError);
    expect(refusal(policy, 'https://example.com/a.png')).toBeInstanceOf(SourceNotAllowedError);
    expect(refusal(policy, 'https://cdn.example.com.evil.net/a.png')).toBeInstanceOf(SourceNotAllowedError);
  });

  it('allows private addresses for every host, or only for the hosts listed', () => {
    const all = new SourceAddressPolicy({ allowPrivateNetworks: true });
    expect(refusal(all, 'http://10.0.0.1/a.png')).toBeUndefined();
    const listed = new SourceAddressPolicy({ allowPrivateNetworks: ['127.0.0.1', '[::1]'] });
    expect(refusal(listed, 'http://127.0.0.1:3000/a.png')).toBeUndefined();
    expect(refusal(listed, 'http://[::1]:3000/a.png')).toBeUndefined();
    expect(refusal(listed, 'http://127.0.0.2/a.png')).toBeInstanceOf(SourceNotAllowedError);
    expect(listed.mayUsePrivate('localhost')).toBe(false);
  });

  it('says which host it refused, unless the host is an address (logs may name hosts, never addresses)', () => {
    const policy = new SourceAddressPolicy({
      allowedHosts: ['cdn.example.com'],
      allowPrivateNetworks: false,
    });
    expect((refusal(policy, 'https://Evil.Example.net./a.png') as SourceNotAllowedError).refusedHost).toBe(
      'evil.example.net',
    );
    const open = new SourceAddressPolicy({ allowPrivateNetworks: false });
    for (const text of ['http://10.0.0.5/a.png', 'http://[::1]/a.png', 'http://2130706433/a.png']) {
      const error = refusal(open, text) as SourceNotAllowedError;
      expect(error).toBeInstanceOf(SourceNotAllowedError);
      expect(error.refusedHost).toBeUndefined();
    }
  });

  it('names the host refused at lookup', async () => {
    const policy = new SourceAddressPolicy({ allowPrivateNetworks: false });
    const error = await new Promise((resolve) => policy.lookup('localhost', { all: true }, resolve));
    expect(error).toBeInstanceOf(SourceNotAllowedError);
    expect((error as SourceNotAllowedError).refusedHost).toBe('localhost');
  });

  it('drops non-public addresses at lookup, for hosts that may not use them', (done) => {
    const policy = new SourceAddressPolicy({ allowPrivateNetworks: false });
    policy.lookup('localhost', { all: true }, (error, addresses) => {
      expect((error as { code?: string } | null)?.code).toBe(SOURCE_REFUSED_CODE);
      expect(addresses).toEqual([]);
      const allowed = new SourceAddressPolicy({ allowPrivateNetworks: ['localhost'] });
      allowed.lookup('localhost', 4, (error2, address, family) => {
        expect(error2).toBeNull();
        expect([address, family]).toEqual(['127.0.0.1', 4]);
        done();
      });
    });
  });
});
