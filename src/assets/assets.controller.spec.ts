import { NotFoundException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import {
  ImageAttributesError,
  ImageResizeService,
  type ImgAttributes,
  UpstreamError,
} from 'nestjs-image-resize';
import { AssetsController } from './assets.controller';
import { type Asset, AssetsService } from './assets.service';

const ACME: Asset = { slug: 'acme', name: 'Acme & Co', description: 'A <logo>', logo: 'acme.png' };
const DUNE: Asset = { slug: 'dune', name: 'Dune', description: 'No logo' };

/** What imgAttributes gives for Acme's logo: a 2x candidate, its size and its placeholder. */
const ACME_LOGO: ImgAttributes = {
  src: '/assets/acme/logo?w=128',
  srcset: '/assets/acme/logo?w=128 1x, /assets/acme/logo 2x',
  width: 128,
  height: 80,
  style: 'background-image:url("data:image/svg+xml,...")',
};

describe('AssetsController', () => {
  let controller: AssetsController;
  const assets = { all: jest.fn(), find: jest.fn() };
  const images = { purge: jest.fn(), imgAttributes: jest.fn() };
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
    moduleRef.useLogger(false);
    controller = moduleRef.get(AssetsController);
  });

  it('logoSmall returns where the original logo is and the name to cache it under', () => {
    assets.find.mockReturnValue(ACME);

    expect(controller.logoSmall('acme', request)).toEqual({
      url: 'http://127.0.0.1:3000/originals/acme.png',
      cacheKey: 'logo_acme',
    });
    expect(assets.find).toHaveBeenCalledWith('acme');
  });

  it('logo returns the same original under the same cache name', () => {
    assets.find.mockReturnValue(ACME);

    expect(controller.logo('acme', request)).toEqual({
      url: 'http://127.0.0.1:3000/originals/acme.png',
      cacheKey: 'logo_acme',
    });
  });

  it('both logo routes return null for an asset without a logo (they then answer 404)', () => {
    assets.find.mockReturnValue(DUNE);

    expect(controller.logoSmall('dune', request)).toBeNull();
    expect(controller.logo('dune', request)).toBeNull();
  });

  it('both logo routes throw NotFoundException for an unknown asset', () => {
    assets.find.mockReturnValue(undefined);

    expect(() => controller.logoSmall('nope', request)).toThrow(NotFoundException);
    expect(() => controller.logo('nope', request)).toThrow(NotFoundException);
  });

  describe('index', () => {
    beforeEach(() => {
      assets.all.mockReturnValue([ACME, DUNE]);
      assets.find.mockImplementation((slug: string) => [ACME, DUNE].find((asset) => asset.slug === slug));
    });

    it('shows each logo 128 px wide with a 2x candidate, its size and placeholder, from what its route serves', async () => {
      images.imgAttributes.mockResolvedValue(ACME_LOGO);

      const page = await controller.index(request);

      expect(images.imgAttributes).toHaveBeenCalledTimes(1);
      expect(images.imgAttributes).toHaveBeenCalledWith(
        [AssetsController, 'logo'],
        { slug: 'acme' },
        {
          source: controller.logo('acme', request),
          choose: { width: 128, height: 128 },
        },
      );
      expect(page).toContain(
        '<img class="logo" src="/assets/acme/logo?w=128" srcset="/assets/acme/logo?w=128 1x, /assets/acme/logo 2x"' +
          ' width="128" height="80" style="background-image:url(&quot;data:image/svg+xml,...&quot;)"' +
          ' alt="Acme &#38; Co logo">',
      );
      expect(page).toContain('<td>A &#60;logo&#62;</td>');
      expect(page).toContain(
        '<div class="placeholder" role="img" aria-label="Dune has no logo">no logo</div>',
      );
      // The script that takes each placeholder away once its logo has loaded.
      expect(page).toMatch(/<script>[^<]*img\.logo[^<]*<\/script>\s*<\/body>/);
    });

    it('shows a logo whose original cannot be read without size and placeholder', async () => {
      images.imgAttributes
        .mockRejectedValueOnce(new UpstreamError())
        .mockResolvedValueOnce({ src: '/assets/acme/logo?w=128' });

      const page = await controller.index(request);

      expect(images.imgAttributes).toHaveBeenLastCalledWith(
        [AssetsController, 'logo'],
        { slug: 'acme' },
        { choose: { width: 128, height: 128 } },
      );
      expect(page).toContain('<img class="logo" src="/assets/acme/logo?w=128" alt="Acme &#38; Co logo">');
    });

    it('lets a mistake of the page itself (a choice the route does not offer) fail the page', async () => {
      images.imgAttributes.mockRejectedValue(new ImageAttributesError('The route offers no image matching'));

      await expect(controller.index(request)).rejects.toThrow(ImageAttributesError);
      expect(images.imgAttributes).toHaveBeenCalledTimes(1);
    });
  });

  it('purgeLogo purges the one cache name of the logo, with every size and format in it', async () => {
    assets.find.mockReturnValue(ACME);
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
