import { SourceNotAllowedError } from '../errors/image-resize.errors';
import { isPublicAddress, SOURCE_REFUSED_CODE, SourceAddressPolicy } from './source-address.policy';

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
    ['2002:7f00:1::1', '6to4 of loopback'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['localhost', 'a name, not an address'],
    ['', 'nothing'],
  ])('refuses %s (%s)', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'accepts the public address %s',
    (address) => {
      expect(isPublicAddress(address)).toBe(true);
    },
  );
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
