import { ImageResizeConfigError, InvalidResizeSpecError } from '../errors/image-resize.errors';
import type { ResizeSpec } from '../spec/resize-spec.interface';
import { resolveResizeSpec } from '../spec/resize-spec.resolver';
import { resolveImageResizeOptions } from './image-resize.options';

describe('the options of freshness from the origin', () => {
  it('checks originals daily, with revalidateAfter alone deciding, unless told otherwise', () => {
    expect(resolveImageResizeOptions({})).toMatchObject({ revalidateAfter: 86_400, originMaxAge: 'ignore' });
    expect(resolveImageResizeOptions({ revalidateAfter: 60, originMaxAge: 'longer-wins' })).toMatchObject({
      revalidateAfter: 60,
      originMaxAge: 'longer-wins',
    });
    expect(resolveImageResizeOptions({ revalidateAfter: false }).revalidateAfter).toBe(false);
  });

  it.each([
    [
      { revalidateAfter: 0 },
      'option "revalidateAfter" must be false or an integer >= 1 (seconds) (got the number 0)',
    ],
    [
      { revalidateAfter: true },
      'option "revalidateAfter" must be false or an integer >= 1 (seconds) (got true)',
    ],
    [
      { revalidateAfter: '3600' },
      'option "revalidateAfter" must be false or an integer >= 1 (seconds) (got a string "3600")',
    ],
    [
      { revalidateAfter: null },
      'option "revalidateAfter" must be false or an integer >= 1 (seconds) (got null)',
    ],
    [
      { originMaxAge: 'honour' },
      'option "originMaxAge" must be one of ignore, longer-wins (got a string "honour")',
    ],
  ])('refuses %j at boot', (options, message) => {
    expect(() => resolveImageResizeOptions(options as never)).toThrow(ImageResizeConfigError);
    expect(() => resolveImageResizeOptions(options as never)).toThrow(`ImageResizeModule: ${message}`);
  });

  const options = resolveImageResizeOptions({});
  const resolve = (extra: Partial<ResizeSpec>) =>
    resolveResizeSpec({ width: 10, height: 10, ...extra }, options);

  it("leaves a spec's revalidateAfter and originMaxAge to the module unless the spec (or route) sets them", () => {
    const plain = resolve({});
    expect('revalidateAfter' in plain).toBe(false);
    expect('originMaxAge' in plain).toBe(false);
    expect(resolve({ revalidateAfter: 5, originMaxAge: 'longer-wins' })).toMatchObject({
      revalidateAfter: 5,
      originMaxAge: 'longer-wins',
    });
    expect(resolve({ revalidateAfter: false }).revalidateAfter).toBe(false);
  });

  it.each([
    [{ revalidateAfter: 0 }, 'revalidateAfter must be false or an integer >= 1 (seconds) (got the number 0)'],
    [
      { revalidateAfter: 1.5 },
      'revalidateAfter must be false or an integer >= 1 (seconds) (got the number 1.5)',
    ],
    [{ originMaxAge: 'always' }, 'originMaxAge must be one of ignore, longer-wins (got a string "always")'],
  ])('refuses the spec %j with a 400', (extra, message) => {
    expect(() => resolve(extra as Partial<ResizeSpec>)).toThrow(InvalidResizeSpecError);
    expect(() => resolve(extra as Partial<ResizeSpec>)).toThrow(message);
  });
});
