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
  ImageResizeModule,
  ResizedImage,
  ResizedImageResponder,
} from 'nestjs-image-resize';
import { map } from 'rxjs';
import sharp from 'sharp';
import request from 'supertest';
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

  @Get('guarded.png')
  @UseGuards(DenyGuard)
  @ResizedImage({ width: 40, height: 40 })
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
      imports: [ImageResizeModule.forRoot({})],
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
    const res = await request(app.getHttpServer()).get('/guarded.png');
    expect(res.status).toBe(403);
    expect(calls).toEqual([]);
  });

  it('returns the source when the method is called directly, as in a unit test of the controller', async () => {
    expect(await app.get(LogoController).above('direct')).toEqual({
      buffer: logo,
      cacheKey: 'decorator_direct',
    });
  });

  it('takes a responder of your own in tests, through overrideProvider', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot({})],
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
