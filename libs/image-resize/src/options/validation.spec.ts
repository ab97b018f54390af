import { ImageResizeConfigError, InvalidResizeSpecError } from '../errors/image-resize.errors';
import {
  describeValue,
  integerRange,
  invalidParameterMessage,
  is,
  objectWith,
  oneOfList,
  optionChecks,
  ParameterChecks,
  queryChecks,
  routeChecks,
  specChecks,
  withDefault,
} from './validation';

class TestError extends Error {}

/** Checks whose parameters are named `<path>` and whose refusals are TestErrors. */
const checks = new ParameterChecks({
  name: (path) => (path === '' ? 'the value' : path),
  error: (message) => new TestError(message),
});

/** The message `attempt` throws (a TestError); fails the test when it throws nothing. */
function refusal(attempt: () => unknown): string {
  try {
    attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(TestError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('is', () => {
  it('tells the kinds of values apart', () => {
    expect([undefined, null, 0, ''].map(is.defined)).toEqual([false, false, true, true]);
    expect([{}, Object.create(null), [], null, 'x'].map(is.object)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    expect([() => 1, class {}, {}].map(is.fn)).toEqual([true, true, false]);
    expect([true, false, 0, 'true'].map(is.bool)).toEqual([true, true, false, false]);
    expect(['', 'x', 1].map(is.string)).toEqual([true, true, false]);
    expect([1.5, -2, NaN, Infinity, '1'].map(is.number)).toEqual([true, true, false, false, false]);
    expect([3, -3, 1.5, 2 ** 53, '3'].map(is.integer)).toEqual([true, true, false, false, false]);
    expect([is.inRange(1, 1, 3), is.inRange(3, 1, 3), is.inRange(4, 1, 3), is.inRange(1e9, 0)]).toEqual([
      true,
      true,
      false,
      true,
    ]);
    expect([is.inArray('b', ['a', 'b']), is.inArray('c', ['a', 'b'])]).toEqual([true, false]);
  });
});

describe('describeValue', () => {
  it.each([
    [undefined, 'undefined'],
    [null, 'null'],
    [true, 'true'],
    [0, 'the number 0'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
    ['3600', 'a string "3600"'],
    ['a "quoted"\nline', 'a string "a \\"quoted\\"\\nline"'],
    ['x'.repeat(61), 'a string of 61 characters'],
    [[], 'an empty array'],
    [[1], 'an array'],
    [{}, 'an empty object'],
    [{ a: 1 }, 'an object'],
    [() => 1, 'a function'],
    [10n, 'a bigint'],
  ])('describes %p as %s', (value, description) => {
    expect(describeValue(value)).toBe(description);
  });

  it('says NaN and Infinity as they are: what Number() makes of a string that is not a number, or too large a one', () => {
    // JSON.stringify would say null: a message must say what the value is.
    expect(describeValue(Number('abc'))).toBe('NaN');
    expect(describeValue(Number('1e999'))).toBe('Infinity');
    expect(describeValue(NaN, true)).toBe('a number');
  });

  it('never quotes a secret: a string by its length, a number by its type', () => {
    expect(describeValue('s3cr3t', true)).toBe('a string of 6 characters');
    expect(describeValue('k', true)).toBe('a string of 1 character');
    expect(describeValue(1234, true)).toBe('a number');
    expect(describeValue(['s3cr3t'], true)).toBe('an array');
  });
});

describe('the message of a refused parameter', () => {
  it('is `<name> must be <expected> (got <value>)`', () => {
    expect(invalidParameterMessage('option "ttl"', 'an integer >= 1', 'a string "60"')).toBe(
      'option "ttl" must be an integer >= 1 (got a string "60")',
    );
    expect(integerRange(1)).toBe('an integer >= 1');
    expect(integerRange(1, 100)).toBe('an integer from 1 to 100');
    expect(oneOfList(['png', 'jpeg'])).toBe('one of png, jpeg');
    expect(objectWith(['maxBytes', 'maxAgeMs'])).toBe('an object { maxBytes?, maxAgeMs? }');
    expect(objectWith([])).toBe('an object');
  });

  it('names the parameter as each entry point does, and throws the error of that entry point', () => {
    const cases = [
      [
        optionChecks,
        'encoders.jpeg.quality',
        ImageResizeConfigError,
        'ImageResizeModule: option "encoders.jpeg.quality"',
      ],
      [routeChecks, 'quality', ImageResizeConfigError, 'ImageResizeModule: @ResizedImage() quality'],
      [specChecks, 'quality', InvalidResizeSpecError, 'quality'],
      [queryChecks, 'q', InvalidResizeSpecError, '?q'],
    ] as const;
    for (const [entry, path, errorClass, name] of cases) {
      for (const quality of [0, 101]) {
        const error = entry.invalid(path, 'an integer from 1 to 100', quality);
        expect(error).toBeInstanceOf(errorClass);
        expect(error.message).toBe(`${name} must be an integer from 1 to 100 (got the number ${quality})`);
        expect(() => entry.quality(path, quality)).toThrow(error.message);
      }
    }
    expect(new InvalidResizeSpecError('x').getStatus()).toBe(400);
    expect(optionChecks.invalid('', 'an object', 'x').message).toBe(
      'ImageResizeModule: options must be an object (got a string "x")',
    );
    expect(specChecks.invalid('', 'an object', null).message).toBe(
      'resize spec must be an object (got null)',
    );
  });
});

describe('ParameterChecks', () => {
  it('returns what it accepts', () => {
    expect(checks.integer('n', 0, 0)).toBe(0);
    expect(checks.integer('n', 100, 1, 100)).toBe(100);
    expect(checks.quality('q', 1)).toBe(1);
    expect(checks.number('dpr', 2.5, 1, 3)).toBe(2.5);
    expect(checks.boolean('b', false)).toBe(false);
    expect(checks.string('s', '')).toBe('');
    expect(checks.matching('hex', '#fff', /^#[0-9a-f]{3}$/, 'a colour')).toBe('#fff');
    expect(checks.oneOf('fit', 'cover', ['inside', 'cover'])).toBe('cover');
    const given = { a: 1 };
    expect(checks.object('o', given, { keys: ['a', 'b'] })).toBe(given);
    expect(checks.list('l', [], 'a list')).toEqual([]);
    expect(checks.each('l', [1, 2], (path, element) => `${path}=${String(element)}`)).toEqual([
      'l[0]=1',
      'l[1]=2',
    ]);
    expect(() => checks.assert(true, 'x', 'anything', 1)).not.toThrow();
  });

  it.each([
    [() => checks.integer('n', 0, 1), 'n must be an integer >= 1 (got the number 0)'],
    [() => checks.integer('n', 1.5, 1), 'n must be an integer >= 1 (got the number 1.5)'],
    [() => checks.integer('n', 2 ** 53, 1), 'n must be an integer >= 1 (got the number 9007199254740992)'],
    [() => checks.integer('n', '5', 1), 'n must be an integer >= 1 (got a string "5")'],
    [() => checks.integer('n', 10, 0, 9), 'n must be an integer from 0 to 9 (got the number 10)'],
    [() => checks.quality('q', 0), 'q must be an integer from 1 to 100 (got the number 0)'],
    [() => checks.quality('q', 101), 'q must be an integer from 1 to 100 (got the number 101)'],
    [() => checks.number('dpr', Infinity, 1, 3), 'dpr must be a number from 1 to 3 (got Infinity)'],
    [() => checks.integer('n', NaN, 1), 'n must be an integer >= 1 (got NaN)'],
    [() => checks.boolean('b', 'true'), 'b must be a boolean (got a string "true")'],
    [() => checks.string('s', ['a', 'b'], 'a single value'), 's must be a single value (got an array)'],
    [() => checks.matching('hex', 'red', /^#/, 'a colour'), 'hex must be a colour (got a string "red")'],
    [
      () => checks.oneOf('fit', 'fill', ['inside', 'cover']),
      'fit must be one of inside, cover (got a string "fill")',
    ],
    [() => checks.object('o', [], {}), 'o must be an object (got an empty array)'],
    [() => checks.object('o', null, { keys: ['a'] }), 'o must be an object { a? } (got null)'],
    [
      () => checks.object('o', { a: 1, c: 2 }, { keys: ['a', 'b'] }),
      'o must be an object { a?, b? } (got the unknown key "c")',
    ],
    [() => checks.object('', 'x', { expected: 'options' }), 'the value must be options (got a string "x")'],
    [() => checks.list('l', {}, 'a list'), 'l must be a list (got an empty object)'],
    [() => checks.list('l', [], 'a list', { nonEmpty: true }), 'l must be a list (got an empty array)'],
    [
      () => checks.each('l', [1, 'x'], (path, element) => checks.integer(path, element, 1)),
      'l[1] must be an integer >= 1 (got a string "x")',
    ],
    [() => checks.assert(false, 'x', 'something else', 1), 'x must be something else (got the number 1)'],
    [
      () => checks.assert(false, 'x', 'a folder', '/tmp', { got: 'a file' }),
      'x must be a folder (got a file)',
    ],
  ])('refuses: %#', (attempt, message) => {
    expect(refusal(attempt)).toBe(message);
  });

  it('describes secrets by their type and length only', () => {
    expect(refusal(() => checks.matching('key', 's3cr3t', /^.{32,}$/, 'a long key', { secret: true }))).toBe(
      'key must be a long key (got a string of 6 characters)',
    );
    expect(refusal(() => checks.object('signing', 's3cr3t', { expected: 'an object', secret: true }))).toBe(
      'signing must be an object (got a string of 6 characters)',
    );
    expect(refusal(() => checks.list('keys', 's3cr3t', 'a list', { secret: true }))).toBe(
      'keys must be a list (got a string of 6 characters)',
    );
  });
});

describe('withDefault', () => {
  it('applies the default for undefined only: null is a value, and is checked', () => {
    const integer = (value: unknown) => checks.integer('n', value, 1);
    expect(withDefault(undefined, 7, integer)).toBe(7);
    expect(withDefault(3, 7, integer)).toBe(3);
    expect(refusal(() => withDefault(null, 7, integer))).toBe('n must be an integer >= 1 (got null)');
  });
});
