import { joinRoutePath, RoutePathError, routePath } from './route-path';

describe('routePath', () => {
  it('fills in the parameters, percent-encoded', () => {
    expect(routePath('/assets/:slug/logo', { slug: 'aurora' })).toBe('/assets/aurora/logo');
    expect(routePath('/assets/:slug/logo_small.png', { slug: 'a b/é?#&' })).toBe(
      '/assets/a%20b%2F%C3%A9%3F%23%26/logo_small.png',
    );
    expect(routePath('/items/:id-:size.png', { id: 42, size: 'l' })).toBe('/items/42-l.png');
    expect(routePath('/static/logo')).toBe('/static/logo');
  });

  it('fills in a wildcard with segments, and an optional part when its parameters are given', () => {
    expect(routePath('/files/*path', { path: 'a b/c.png' })).toBe('/files/a%20b/c.png');
    expect(routePath('/files/*path', { path: ['a/b', 'c'] })).toBe('/files/a%2Fb/c');
    expect(routePath('/logo{/:size}', { size: 'large' })).toBe('/logo/large');
    expect(routePath('/logo{/:size}')).toBe('/logo');
    expect(routePath('/logo{/:size}', { size: undefined as unknown as string })).toBe('/logo');
    expect(routePath('/a\\:b/:c', { c: 'd' })).toBe('/a:b/d');
  });

  it('refuses a missing, unknown, empty or dot parameter', () => {
    const refuses = (pattern: string, params: Record<string, unknown>, message: RegExp) =>
      expect(() => routePath(pattern, params as Record<string, string>)).toThrow(
        expect.objectContaining({ name: RoutePathError.name, message: expect.stringMatching(message) }),
      );
    refuses('/assets/:slug/logo', {}, /^Route \/assets\/:slug\/logo needs the parameter "slug"$/);
    refuses('/assets/:slug/logo', { slug: 'a', id: 1 }, /has no parameter "id" \(its parameters: slug\)/);
    refuses('/static', { slug: 'a' }, /has no parameter "slug" \(it has none\)/);
    refuses('/assets/:slug/logo', { slug: '' }, /"slug" may not be ""/);
    refuses('/assets/:slug/logo', { slug: '.' }, /"slug" may not be "\."/);
    refuses('/assets/:slug/logo', { slug: '..' }, /"slug" may not be "\.\."/);
    refuses('/files/*path', { path: 'a/../b' }, /"path" may not be "\.\."/);
    refuses('/files/*path', { path: 'a//b' }, /"path" may not be ""/);
    refuses('/files/*path', { path: [] }, /at least one segment/);
    refuses('/assets/:slug', { slug: null }, /a string or a number, not null/);
    refuses('/assets/:slug', { slug: { a: 1 } }, /a string or a number, not object/);
    refuses('/assets/:slug', { slug: ['a'] }, /one value, not an array/);
    refuses('/assets/:slug', { slug: Number.NaN }, /not a finite number/);
    refuses('/assets/:slug', { slug: '\ud800' }, /not valid Unicode/);
    refuses('/{:a/:b}', { a: 'x' }, /all or none of the optional parameters a, b/);
  });

  it('refuses a pattern Nest would not accept', () => {
    for (const [pattern, message] of [
      ['/a/:', /":" without a parameter name at character 4/],
      ['/a/:slug?', /reserved character "\?"/],
      ['/a/(.*)', /reserved character "\("/],
      ['/a{/:b', /"\{" that is never closed/],
      ['/a}', /"\}" that closes nothing/],
      ['/a\\', /escapes nothing/],
    ] as const) {
      expect(() => routePath(pattern)).toThrow(message);
    }
  });
});

describe('joinRoutePath', () => {
  it('joins prefix, controller and method paths as Nest does', () => {
    expect(joinRoutePath('api', '/assets/', ':slug/logo')).toBe('/api/assets/:slug/logo');
    expect(joinRoutePath(undefined, '', 'assets/:slug/logo_small.png')).toBe('/assets/:slug/logo_small.png');
    expect(joinRoutePath('/', '/')).toBe('/');
  });
});
