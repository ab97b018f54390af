import {
  type CallHandler,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Header,
  type INestApplication,
  Injectable,
  type NestInterceptor,
  Next,
  Param,
  Res,
  UseGuards,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  ImageResizeConfigError,
  ImageResizeMetrics,
  ImageResizeModule,
  ResizedImage,
} from 'nestjs-image-resize';
import { map } from 'rxjs';
import sharp from 'sharp';
import request from 'supertest';
import { ResizedImageResponder } from '../libs/image-resize/src/http/resized-image.responder';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';

let logo: Buffer;
const calls: string[] = [];

beforeAll(async () => {
  logo = await transparentPng();
});

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

/** An application-wide interceptor that wraps every result, as many apps have one. */
@Injectable()
class WrapEverything implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(map((data: unknown) => ({ data })));
  }
}

@Controller()
class LogoController {
  @ResizedImage({ width: 40, height: 40 })
  @Get('above/:name.png')
  @Header('X-Route', 'above')
  above(@Param('name') name: string, ...rest: unknown[]) {
    calls.push(`above ${name} ${rest.length}`);
    return { buffer: logo, cacheKey: `decorator_${name}` };
  }

  // The guard is applied first, to the original method: the wrapper must carry it over.
  @Get('guarded.png')
  @ResizedImage({ width: 40, height: 40 })
  @UseGuards(DenyGuard)
  guarded() {
    calls.push('guarded');
    return logo;
  }
}

/** A responder that adds a header of its own: what a subclass of the hooks may do. */
@Injectable()
class BrandedResponder extends ResizedImageResponder {
  protected override setHeaders(...args: Parameters<ResizedImageResponder['setHeaders']>): void {
    super.setHeaders(...args);
    args[0].header('X-Served-By', 'branded');
  }
}

describe('@ResizedImage()', () => {
  let app: INestApplication;
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot()],
      controllers: [LogoController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: WrapEverything }],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => app.close());
  beforeEach(() => (calls.length = 0));

  it('works above @Get() too, keeps the route headers, and passes the handler only its own arguments', async () => {
    const res = await request(app.getHttpServer()).get('/above/acme.png').buffer(true).parse(binary);
    expect(res.status).toBe(200);
    expect(res.headers['x-route']).toBe('above');
    expect(res.headers['content-type']).toBe('image/png');
    expect((await sharp(res.body).metadata()).width).toBe(40);
    expect(calls).toEqual(['above acme 0']);
  });

  it('sends the image although an app-wide interceptor wraps every result', async () => {
    const res = await request(app.getHttpServer()).get('/above/wrapped.png').buffer(true).parse(binary);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.body.subarray(1, 4).toString('latin1')).toBe('PNG');
  });

  it("runs the route's guards first: a refused request reaches neither the handler nor the cache", async () => {
    const events: string[] = [];
    const unsubscribe = app.get(ImageResizeMetrics).subscribe((event) => events.push(event.type));
    try {
      const res = await request(app.getHttpServer()).get('/guarded.png');
      expect(res.status).toBe(403);
      expect(calls).toEqual([]);
      expect(events).toEqual([]);
    } finally {
      unsubscribe();
    }
  });

  it('returns what the method returns when it is called directly, as in a unit test of the controller', () => {
    expect(app.get(LogoController).above('direct')).toEqual({ buffer: logo, cacheKey: 'decorator_direct' });
  });

  it('says what is wrong when Nest hands it a response of neither Express nor Fastify', () => {
    // The response goes after every declared parameter: here the rest parameter's place.
    expect(() => app.get(LogoController).above('odd', undefined, { status: 200 })).toThrow(
      /LogoController.above: @ResizedImage\(\) serves through Express or Fastify/,
    );
  });

  it('takes an override in a subclass decorated anew', async () => {
    class BaseLogos {
      @Get('base/:name.png')
      @ResizedImage({ width: 40, height: 40 })
      logo(@Param('name') name: string) {
        return { buffer: logo, cacheKey: `base_${name}` };
      }
    }
    @Controller('derived')
    class DerivedLogos extends BaseLogos {
      @Get(':name.png')
      @ResizedImage({ width: 20, height: 20 })
      override logo(@Param('name') name: string) {
        return super.logo(name);
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot()],
      controllers: [DerivedLogos],
    }).compile();
    const derived = moduleRef.createNestApplication({ logger: false });
    await derived.init();
    try {
      const res = await request(derived.getHttpServer()).get('/derived/acme.png').buffer(true).parse(binary);
      expect(res.status).toBe(200);
      expect((await sharp(res.body).metadata()).width).toBe(20);
    } finally {
      await derived.close();
    }
  });

  it('refuses to go on anything but a method', () => {
    class Holder {
      value = 1;
    }
    const onProperty = () =>
      ResizedImage({ width: 10, height: 10 })(Holder.prototype, 'value', undefined as never);
    expect(onProperty).toThrow('@ResizedImage() goes on a method; Holder.value is not one');
  });

  it('takes a responder of your own in tests, through overrideProvider', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot()],
      controllers: [LogoController],
    })
      .overrideProvider(ResizedImageResponder)
      .useClass(BrandedResponder)
      .compile();
    const branded = moduleRef.createNestApplication({ logger: false });
    await branded.init();
    try {
      const res = await request(branded.getHttpServer()).get('/above/branded.png');
      expect(res.status).toBe(200);
      expect(res.headers['x-served-by']).toBe('branded');
    } finally {
      await branded.close();
    }
  });

  it('refuses @Res() and @Next() at start-up, naming the method', () => {
    const withRes = () => {
      class Bad {
        @Get('x')
        @ResizedImage({ width: 10, height: 10 })
        logo(@Res() res: unknown) {
          return res;
        }
      }
      return Bad;
    };
    expect(withRes).toThrow(ImageResizeConfigError);
    expect(withRes).toThrow(
      '@ResizedImage() writes the response itself: remove @Res()/@Next() from Bad.logo',
    );
    const withNext = () => {
      class AlsoBad {
        @ResizedImage({ width: 10, height: 10 })
        logo(@Next() next: unknown) {
          return next;
        }
      }
      return AlsoBad;
    };
    expect(withNext).toThrow('remove @Res()/@Next() from AlsoBad.logo');
  });
});
