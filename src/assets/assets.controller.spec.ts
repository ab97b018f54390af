import { NotFoundException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import { ImageResizeService } from 'nestjs-image-resize';
import { AssetsController } from './assets.controller';
import { AssetsService } from './assets.service';

describe('AssetsController', () => {
  let controller: AssetsController;
  const assets = { all: jest.fn(), find: jest.fn() };
  const images = { purge: jest.fn() };
  // The controller reads only the port the request came in on.
  const request = { socket: { localPort: 3000 } } as Request;

  beforeEach(async () => {
    jest.resetAllMocks();
    // No ImageResizeModule: only the controller's own dependencies, mocked.
    const moduleRef = await Test.createTestingModule({
      controllers: [AssetsController],
      providers: [
        { provide: AssetsService, useValue: assets },
        { provide: ImageResizeService, useValue: images },
      ],
    }).compile();
    controller = moduleRef.get(AssetsController);
  });

  it('logoSmall returns where the original logo is and the name to cache it under', () => {
    assets.find.mockReturnValue({ slug: 'acme', name: 'Acme', description: 'A logo', logo: 'acme.png' });

    expect(controller.logoSmall('acme', request)).toEqual({
      url: 'http://127.0.0.1:3000/originals/acme.png',
      cacheKey: 'logo_acme',
    });
    expect(assets.find).toHaveBeenCalledWith('acme');
  });

  it('logo returns the same original under the same cache name', () => {
    assets.find.mockReturnValue({ slug: 'acme', name: 'Acme', description: 'A logo', logo: 'acme.png' });

    expect(controller.logo('acme', request)).toEqual({
      url: 'http://127.0.0.1:3000/originals/acme.png',
      cacheKey: 'logo_acme',
    });
  });

  it('logoSmall returns null for an asset without a logo (the route then answers 404)', () => {
    assets.find.mockReturnValue({ slug: 'dune', name: 'Dune', description: 'No logo' });

    expect(controller.logoSmall('dune', request)).toBeNull();
  });

  it('logoSmall throws NotFoundException for an unknown asset', () => {
    assets.find.mockReturnValue(undefined);

    expect(() => controller.logoSmall('nope', request)).toThrow(NotFoundException);
  });

  it('purgeLogo purges the one cache name of the logo, with every size and format in it', async () => {
    assets.find.mockReturnValue({ slug: 'acme', name: 'Acme', description: 'A logo', logo: 'acme.png' });
    images.purge.mockResolvedValue(3);

    await expect(controller.purgeLogo('acme')).resolves.toEqual({ purged: 3 });
    expect(images.purge).toHaveBeenCalledWith('logo_acme');
  });

  it('purgeLogo throws NotFoundException for an unknown asset', async () => {
    assets.find.mockReturnValue(undefined);

    await expect(controller.purgeLogo('nope')).rejects.toThrow(NotFoundException);
    expect(images.purge).not.toHaveBeenCalled();
  });
});
