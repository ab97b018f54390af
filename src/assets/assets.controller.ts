import {
  Controller,
  Get,
  Header,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Req,
  UseGuards,
} from '@nestjs/common';
import type { Request } from 'express';
import { ImageResizeService, ResizedImage, type ImageSource } from 'nestjs-image-resize';
import { type Asset, AssetsService } from './assets.service';
import { NotInProductionGuard } from './not-in-production.guard';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The one cacheKey of an asset's original logo, for every route, size and format that serves it: the
 * library adds size and format to each variant's key, and `purge(logoCacheKey(slug))` removes them all.
 */
export const logoCacheKey = (slug: string): string => `logo_${slug}`;

@Controller()
export class AssetsController {
  constructor(
    private readonly assets: AssetsService,
    private readonly images: ImageResizeService,
  ) {}

  /** The catalogue page: one row per asset, with its logo served through `@ResizedImage()`. */
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(): string {
    const rows = this.assets
      .all()
      .map((asset) => this.row(asset))
      .join('\n');
    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Assets</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2937; }
  table { border-collapse: collapse; }
  td, th { padding: .75rem 1rem; border-bottom: 1px solid #e5e7eb; text-align: left; vertical-align: middle; }
  .col-logo { width: 256px; height: 128px; }
  .col-logo img { max-width: 128px; max-height: 128px; display: block; }
  .placeholder { width: 128px; height: 128px; display: flex; align-items: center; justify-content: center;
    background: #f3f4f6; color: #6b7280; border-radius: 8px; font-size: .8rem; }
</style>
</head>
<body>
<h1>Assets</h1>
<table>
<thead><tr><th>Logo</th><th>Asset</th><th>About</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
  }

  /**
   * The asset's logo, fitted into 256x256 PNG and cached under `logo_<slug>`, as the other logo route
   * is. The original is fetched through its URL, like a logo stored elsewhere would be.
   */
  @Get('assets/:slug/logo_small.png')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  logoSmall(@Param('slug') slug: string, @Req() request: Request): ImageSource | null {
    const asset = this.assets.find(slug);
    if (!asset) throw new NotFoundException('Unknown asset');
    if (!asset.logo) return null;
    return { url: `${ownOrigin(request)}/originals/${asset.logo}`, cacheKey: logoCacheKey(asset.slug) };
  }

  /**
   * The same logo in the best format the browser accepts (AVIF, WebP, else PNG/JPEG), in one of
   * two sizes: `/assets/<slug>/logo?preset=large`. Any other preset gives 400.
   */
  @Get('assets/:slug/logo')
  @ResizedImage({
    width: 256,
    height: 256,
    format: 'auto',
    presets: { small: { width: 64, height: 64 }, large: { width: 512, height: 512 } },
  })
  logo(@Param('slug') slug: string, @Req() request: Request): ImageSource | null {
    const asset = this.assets.find(slug);
    if (!asset) throw new NotFoundException('Unknown asset');
    if (!asset.logo) return null;
    return { url: `${ownOrigin(request)}/originals/${asset.logo}`, cacheKey: logoCacheKey(asset.slug) };
  }

  /**
   * Empties the image cache of the asset's logo — every size and format that any route made of it —
   * after its original was replaced where it is stored: `{ purged: <variants removed> }`. Put a CDN's
   * purge of the logo URLs here too. An admin action: the example allows it outside production only,
   * as it does `?redraw`; a real app guards it as it guards its other admin actions.
   */
  @Post('assets/:slug/logo/purge')
  @HttpCode(200)
  @UseGuards(NotInProductionGuard)
  async purgeLogo(@Param('slug') slug: string): Promise<{ purged: number }> {
    const asset = this.assets.find(slug);
    if (!asset) throw new NotFoundException('Unknown asset');
    return { purged: await this.images.purge(logoCacheKey(asset.slug)) };
  }

  private row(asset: Asset): string {
    const name = escapeHtml(asset.name);
    const logo = asset.logo
      ? `<a class="logo-link" href="/assets/${asset.slug}/logo_small.png"><img src="/assets/${asset.slug}/logo_small.png" alt="${name} logo"></a>`
      : `<div class="placeholder" role="img" aria-label="${name} has no logo">no logo</div>`;
    return `<tr>
  <td class="col-logo">${logo}</td>
  <td>${name}</td>
  <td>${escapeHtml(asset.description)}</td>
</tr>`;
  }
}

/** This server's own origin on loopback, wherever it listens. */
function ownOrigin(request: Request): string {
  const port = request.socket.localPort;
  return `http://127.0.0.1:${port}`;
}
