import { Controller, Get, Injectable, Param, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeConfigError, ImageResizeModule, ResizedImage } from 'nestjs-image-resize';
import request from 'supertest';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';

let logo: Buffer;
beforeAll(async () => {
  logo = await transparentPng();
});

/** Boots an app with `controller` and ImageResizeModule on `options`; resolves to the error it refused with, if any. */
async function boot(
  controller: Type,
  options: Parameters<typeof ImageResizeModule.forRoot>[0] = {},
): Promise<Error | undefined> {
  const moduleRef = await Test.createTestingModule({
    imports: [ImageResizeModule.forRoot(options)],
    controllers: [controller],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
    return undefined;
  } catch (error) {
    return error as Error;
  } finally {
    await app.close();
  }
}

describe('routes that could only fail at request time are refused at boot', () => {
  it('a signed route without signing keys', async () => {
    @Controller()
    class SignedLogos {
      @Get('signed/:name')
      @ResizedImage({ signed: true })
      logo() {
        return logo;
      }
    }
    const error = await boot(SignedLogos);
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    expect(error?.message).toMatch(
      /SignedLogos\.logo: signed: true needs the module option "signing": \{ keys: \[\.\.\.\] \}/,
    );
    expect(await boot(SignedLogos, { signing: { keys: ['k'.repeat(32)] } })).toBeUndefined();
  });

  it('a preset or an allowed width beyond maxOutputWidth / maxOutputHeight', async () => {
    @Controller()
    class BigLogos {
      @Get('presets.png')
      @ResizedImage({ presets: { small: { width: 64, height: 64 }, poster: { width: 3000, height: 3000 } } })
      presets() {
        return logo;
      }

      @Get('widths.png')
      @ResizedImage({ width: 100, height: 200, widths: [100, 1200] })
      widths() {
        return logo;
      }
    }
    const error = await boot(BigLogos, { maxOutputWidth: 2000, maxOutputHeight: 2000 });
    expect(error).toBeInstanceOf(ImageResizeConfigError);
    expect(error?.message).toContain(
      'BigLogos.presets: preset "poster": width must be an integer from 1 to 2000 (got the number 3000) (the module options maxOutputWidth / maxOutputHeight set the limit)',
    );
    // Width 1200 keeps the route's 1:2 aspect: 2400 high, past maxOutputHeight.
    expect(error?.message).toContain(
      'BigLogos.widths: width 1200: height must be an integer from 1 to 2000 (got the number 2400) (the module options maxOutputWidth / maxOutputHeight set the limit)',
    );
    expect(error?.message).not.toMatch(/small|width 100:/);
    expect(await boot(BigLogos, { maxOutputWidth: 3000, maxOutputHeight: 3000 })).toBeUndefined();
  });

  it('an override of a decorated route that is not decorated itself', async () => {
    class BaseLogos {
      @Get('logo.png')
      @ResizedImage({ width: 40, height: 40 })
      logo(): unknown {
        return logo;
      }
    }
    @Controller('forgot')
    class ForgetfulLogos extends BaseLogos {
      @Get('logo.png')
      override logo() {
        return logo;
      }
    }
    @Controller('decorated')
    class DecoratedLogos extends BaseLogos {
      @Get('logo.png')
      @ResizedImage({ width: 20, height: 20 })
      override logo() {
        return logo;
      }
    }
    const error = await boot(ForgetfulLogos);
    expect(error?.message).toMatch(
      /ForgetfulLogos\.logo overrides a @ResizedImage\(\) route without being decorated itself: add @ResizedImage\(\) to the override/,
    );
    expect(await boot(DecoratedLogos)).toBeUndefined();
  });

  it('lists every problem at once', async () => {
    @Controller()
    class TwoMistakes {
      @Get('a')
      @ResizedImage({ signed: true })
      a() {
        return logo;
      }

      @Get('b')
      @ResizedImage({ width: 5000, height: 10 })
      b() {
        return logo;
      }
    }
    const error = await boot(TwoMistakes);
    expect(error?.message.split('\n').filter((line) => line.startsWith('- '))).toHaveLength(2);
  });
});

describe('the response parameter counts defaulted parameters', () => {
  @Controller()
  class DefaultedLogos {
    @Get('sized/:name')
    @ResizedImage({ width: 32, height: 32 })
    sized(@Param('name') name: string, size = 64) {
      return { buffer: logo, cacheKey: `defaulted_${name}_${size}` };
    }
  }

  it('a direct call may pass the defaulted parameter', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeModule.forRoot()],
      controllers: [DefaultedLogos],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const controller = app.get(DefaultedLogos);
      expect(controller.sized('acme')).toEqual({ buffer: logo, cacheKey: 'defaulted_acme_64' });
      expect(controller.sized('acme', 128)).toEqual({ buffer: logo, cacheKey: 'defaulted_acme_128' });
      const res = await request(app.getHttpServer()).get('/sized/acme').buffer(true).parse(binary);
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('MISS');
    } finally {
      await app.close();
    }
  });
});

describe('a controller unit test needs only its own providers', () => {
  @Injectable()
  class Logos {
    urlOf(slug: string): string {
      return `https://cdn.example.com/${slug}.png`;
    }
  }

  @Controller('logos')
  class LogosController {
    constructor(private readonly logos: Logos) {}

    @Get(':slug.png')
    @ResizedImage({ width: 64, height: 64 })
    logo(@Param('slug') slug: string) {
      return { url: this.logos.urlOf(slug), cacheKey: `logo_${slug}` };
    }
  }

  it('compiles without ImageResizeModule, and the method returns its source', async () => {
    const moduleRef = await Test.createTestingModule({
      controllers: [LogosController],
      providers: [{ provide: Logos, useValue: { urlOf: (slug: string) => `https://test/${slug}.png` } }],
    }).compile();
    expect(moduleRef.get(LogosController).logo('acme')).toEqual({
      url: 'https://test/acme.png',
      cacheKey: 'logo_acme',
    });
  });
});
