import {
  Controller,
  Get,
  HttpCode,
  Inject,
  type INestApplication,
  Module,
  Param,
  Post,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  type ImageResizeModuleAsyncOptions,
  type ImageResizeModuleRootOptions,
  ImageResizeModule,
  ImageResizeService,
  ResizedImage,
} from 'nestjs-image-resize';
import { until } from './until';

/** The test origins listen on 127.0.0.1: allowed for that host only, as an app would allow its own. */
export const LOOPBACK_ORIGIN = { allowPrivateNetworks: ['127.0.0.1'] };

/** Where the test controller finds its originals. */
export const ORIGIN_URL = Symbol('ORIGIN_URL');

/**
 * A controller as an application would write it: each route returns where the original is.
 * `/logo/:name` and `/logo-large/:name` share a cacheKey, so they are two variants of one image.
 */
@Controller()
export class TestImagesController {
  constructor(@Inject(ORIGIN_URL) private readonly origin: string) {}

  @Get('logo/:name')
  @ResizedImage({ width: 128, height: 128, format: 'png' })
  logo(@Param('name') name: string) {
    if (name === 'none') return null;
    return { url: `${this.origin}/${name}`, cacheKey: `logo_${name}` };
  }

  @Get('logo-large/:name')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  logoLarge(@Param('name') name: string) {
    return { url: `${this.origin}/${name}`, cacheKey: `logo_${name}` };
  }

  @Get('thumb/:name')
  @ResizedImage({ width: 64, height: 64, format: 'jpeg', fit: 'cover', ttl: 120 })
  async thumb(@Param('name') name: string) {
    return `${this.origin}/${name}`;
  }
}

/** An upload endpoint as an application writes it: replaces the logo, then purges its variants. */
@Controller()
export class UploadController {
  constructor(private readonly images: ImageResizeService) {}

  @Post('upload/:name')
  @HttpCode(204)
  async upload(@Param('name') name: string): Promise<void> {
    // (the new original would be written here)
    await this.images.purge(`logo_${name}`);
  }
}

/** Builds and starts an app around the test controller with `forRoot(options)`. */
export async function createTestApp(
  origin: string,
  options: ImageResizeModuleRootOptions | { async: ImageResizeModuleAsyncOptions },
): Promise<INestApplication> {
  const imageModule =
    'async' in options
      ? ImageResizeModule.forRootAsync(options.async)
      : ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN, ...options });
  @Module({
    imports: [imageModule],
    controllers: [TestImagesController],
    providers: [{ provide: ORIGIN_URL, useValue: origin }],
  })
  class TestAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.init();
  return app;
}

/**
 * Waits until the app's cache answers: a new Redis Cluster client may need longer than the module
 * waits at boot to learn the slots on a busy machine, and until then requests are served uncached.
 */
export async function untilCacheAnswers(app: INestApplication): Promise<void> {
  const images = app.get(ImageResizeService);
  await until('the image cache answers', async () => (await images.health()).cacheUp);
}
