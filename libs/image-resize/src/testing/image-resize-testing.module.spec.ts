import { forwardRef, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import sharp from 'sharp';

// Every optional peer fails to load here, and says so: the testing module must need none of them.
const mockLoaded: string[] = [];
function mockOptionalPeer(name: string): never {
  mockLoaded.push(name);
  throw new Error(`${name} is not installed`);
}
jest.mock('ioredis', () => mockOptionalPeer('ioredis'));
jest.mock('cache-manager', () => mockOptionalPeer('cache-manager'));
jest.mock('@nestjs/cache-manager', () => mockOptionalPeer('@nestjs/cache-manager'));
jest.mock('@nestjs/terminus', () => mockOptionalPeer('@nestjs/terminus'));
jest.mock('prom-client', () => mockOptionalPeer('prom-client'));
jest.mock('@nestjs/swagger', () => mockOptionalPeer('@nestjs/swagger'));
jest.mock('cache-manager-ioredis-yet', () => mockOptionalPeer('cache-manager-ioredis-yet'));

describe('ImageResizeTestingModule', () => {
  it('boots and resizes without loading any optional peer', async () => {
    const { ImageResizeService } = await import('../index');
    const { ImageResizeRecorder, ImageResizeTestingModule } = await import('./index');
    const logo = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const moduleRef = await Test.createTestingModule({
      imports: [ImageResizeTestingModule.forRoot({ fixtures: { 'https://cdn.example.com/logo.png': logo } })],
    }).compile();
    await moduleRef.init();
    const service = moduleRef.get(ImageResizeService);

    const result = await service.resize(
      { url: 'https://cdn.example.com/logo.png', cacheKey: 'logo' },
      {
        width: 10,
        height: 10,
      },
    );
    await moduleRef.close();

    expect([result.width, result.height, result.cacheStatus]).toEqual([10, 5, 'MISS']);
    expect(moduleRef.get(ImageResizeRecorder).resizes).toHaveLength(1);
    expect(mockLoaded).toEqual([]);
  });
});

describe('findImageResizeModule', () => {
  it('finds the registration behind a forwardRef and a dynamic module', async () => {
    const { ImageResizeModule } = await import('../index');
    const { findImageResizeModule } = await import('./index');
    const registration = ImageResizeModule.forRoot({});
    @Module({})
    class LeafModule {}
    const feature = { module: LeafModule, imports: [forwardRef(() => registration)] };
    @Module({ imports: [feature] })
    class AppModule {}

    expect(findImageResizeModule(AppModule)).toBe(registration);
  });

  it('refuses to choose between two registrations', async () => {
    const { ImageResizeModule } = await import('../index');
    const { findImageResizeModule } = await import('./index');
    @Module({ imports: [ImageResizeModule.forRoot({})] })
    class FirstModule {}
    @Module({ imports: [FirstModule, ImageResizeModule.forRoot({ ttl: 60 })] })
    class AppModule {}

    expect(() => findImageResizeModule(AppModule)).toThrow(/registers ImageResizeModule 2 times/);
  });
});
