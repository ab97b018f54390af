import { OverloadedError } from '../errors/image-resize.errors';
import { SourceByteBudget } from './source-byte.budget';

describe('SourceByteBudget', () => {
  it('grows reservations while they fit, and refuses past the capacity with a 503 and Retry-After', () => {
    const budget = new SourceByteBudget(100);
    const a = budget.open();
    const b = budget.open();
    a.ensure(60);
    a.ensure(40); // never shrinks by ensure
    b.ensure(40);
    expect([a.bytes, b.bytes, budget.inFlight]).toEqual([60, 40, 100]);
    const error = (() => {
      try {
        b.ensure(41);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(OverloadedError);
    expect((error as OverloadedError).getStatus()).toBe(503);
    expect((error as OverloadedError).retryAfterSeconds).toBeGreaterThan(0);
    expect([b.bytes, budget.inFlight]).toEqual([40, 100]);
  });

  it('settles a reservation to its real size, and gives everything back once on release', () => {
    const budget = new SourceByteBudget(100);
    const a = budget.open();
    a.ensure(80);
    a.settle(30);
    expect(budget.inFlight).toBe(30);
    a.settle(50);
    expect(budget.inFlight).toBe(50);
    a.release();
    a.release();
    expect([a.bytes, budget.inFlight]).toEqual([0, 0]);
  });

  it('refuses to grow a released reservation, so a load that was given up holds nothing', () => {
    const budget = new SourceByteBudget(100);
    const a = budget.open();
    a.release();
    expect(() => a.ensure(10)).toThrow(/given up/);
    expect(budget.inFlight).toBe(0);
  });
});
