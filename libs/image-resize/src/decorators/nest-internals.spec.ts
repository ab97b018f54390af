import { Controller, Get, Module, Next, Param, Query, Res, createParamDecorator } from '@nestjs/common';
// The test may read Nest's internal constants: it checks that the probe finds the same ones.
import { MODULE_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import {
  checkNestContract,
  isResponseParam,
  isRouteHandler,
  moduleImports,
  paramIndex,
  responseParamKey,
  routeArgs,
  setRouteArgs,
} from './nest-internals';

const User = createParamDecorator((_data: unknown, _ctx: unknown) => 'user');

@Controller()
class Sample {
  @Get('a')
  handler(
    @Param('id') _id: string,
    @Query('q') _q: string,
    @User() _user: string,
    @Res() _res: unknown,
    @Next() _next: unknown,
  ) {}

  notARoute() {}
}

describe('the contract with Nest (run on the installed Nest)', () => {
  it('holds for this version', () => {
    expect(() => checkNestContract()).not.toThrow();
  });

  it('finds the keys and parameter types that Nest itself uses', () => {
    const args = routeArgs(Sample.prototype, 'handler');
    expect(args).toEqual(Reflect.getMetadata(ROUTE_ARGS_METADATA, Sample, 'handler'));
    expect(responseParamKey(3)).toBe(`${RouteParamtypes.RESPONSE}:3`);
    const flagged = Object.keys(args).filter(isResponseParam);
    expect(flagged.sort()).toEqual([`${RouteParamtypes.RESPONSE}:3`, `${RouteParamtypes.NEXT}:4`].sort());
    expect(Object.keys(args).map(paramIndex).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('tells route handlers by their path', () => {
    expect(Reflect.getMetadata(PATH_METADATA, Sample.prototype.handler)).toBe('a');
    expect(isRouteHandler(Sample.prototype.handler)).toBe(true);
    expect(isRouteHandler(Sample.prototype.notARoute)).toBe(false);
    expect(isRouteHandler(undefined)).toBe(false);
  });

  it('writes route parameters where Nest reads them', () => {
    class Target {
      method() {}
    }
    setRouteArgs(Target.prototype, 'method', { [responseParamKey(0)]: { index: 0, pipes: [] } });
    expect(Reflect.getMetadata(ROUTE_ARGS_METADATA, Target, 'method')).toEqual({
      [`${RouteParamtypes.RESPONSE}:0`]: { index: 0, pipes: [] },
    });
  });

  it('reads module imports where Nest keeps them', () => {
    class Feature {}
    @Module({ imports: [Feature] })
    class Root {}
    expect(moduleImports(Root)).toEqual(Reflect.getMetadata(MODULE_METADATA.IMPORTS, Root));
    expect(moduleImports(Root)).toEqual([Feature]);
    expect(moduleImports(Feature)).toEqual([]);
  });
});
