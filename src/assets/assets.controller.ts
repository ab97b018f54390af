import {
  Controller,
  Get,
  Header,
  HttpCode,
  Logger,
  NotFoundException,
  Param,
  Post,
  Req,
  UseGuards,
} from '@nestjs/common';
import type { Request } from 'express';
import {
  ImageResizeError,
  ImageResizeService,
  type ImageSource,
  type ImgAttributes,
  renderImgAttributes,
  ResizedImage,
} from 'nestjs-image-resize';
import { type Asset, AssetsService } from './assets.service';
import { NotInProductionGuard } from './not-in-production.guard';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The one cacheKey of an asset's original logo, for every route, size and format that serves it: the
 * library adds size and format to each variant's key, and `purge(logoCacheKey(slug))` removes them all.
 */
export const logoCacheKey = (slug: string): string => `logo_${slug}`;

/** The box a logo is shown in on the page, in CSS pixels: one of the `widths` of the logo route. */
const PAGE_LOGO = { width: 128, height: 128 };

/**
 * Once a logo has loaded, its blurred placeholder (the `<img>`'s background) goes, so that it does not
 * show through the logo's transparent parts. A logo that failed keeps it, next to its alt text.
 */
const CLEAR_PLACEHOLDERS = `for (const img of document.querySelectorAll('img.logo')) {
  const clear = () => img.style.removeProperty('background-image');
  if (img.complete && img.naturalWidth > 0) clear();
  else img.addEventListener('load', clear, { once: true });
}`;

@Controller()
export class AssetsController {
  private readonly logger = new Logger(AssetsController.name);

  constructor(
    private readonly assets: AssetsService,
    private readonly images: ImageResizeService,
  ) {}

  /**
   * The catalogue page: one row per asset, with its logo served through `@ResizedImage()`. Each logo's
   * `<img>` has its size (the page does not move when it arrives), a 2x candidate for sharp screens,
   * and its blurred placeholder, shown until the logo has loaded.
   */
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  async index(@Req() request: Request): Promise<string> {
    const rows = await Promise.all(this.assets.all().map((asset) => this.row(asset, request)));
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
${rows.join('\n')}
</tbody>
</table>
<script>
${CLEAR_PLACEHOLDERS}
</script>
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
    return this.logoSource(this.asset(slug), request);
  }

  /**
   * The same logo in the best format the browser accepts (AVIF, WebP, else PNG/JPEG): 256x256, or
   * 128 px wide (`?w=128`, the page's 1x logo), or one of two presets (`?preset=large`); any other
   * width or preset gives 400. `?placeholder` answers the logo's placeholder as JSON.
   */
  @Get('assets/:slug/logo')
  @ResizedImage({
    width: 256,
    height: 256,
    widths: [PAGE_LOGO.width, 256],
    format: 'auto',
    presets: { small: { width: 64, height: 64 }, large: { width: 512, height: 512 } },
    placeholder: true,
  })
  logo(@Param('slug') slug: string, @Req() request: Request): ImageSource | null {
    return this.logoSource(this.asset(slug), request);
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
    const asset = this.asset(slug);
    return { purged: await this.images.purge(logoCacheKey(asset.slug)) };
  }

  private asset(slug: string): Asset {
    const asset = this.assets.find(slug);
    if (!asset) throw new NotFoundException('Unknown asset');
    return asset;
  }

  /**
   * Where the asset's original logo is, and the name to cache it under: what both logo routes serve,
   * and what the page reads the logo's size and placeholder from. The original is fetched through its
   * URL, like a logo stored elsewhere would be; null when the asset has none (the routes answer 404).
   */
  private logoSource(asset: Asset, request: Request): ImageSource | null {
    if (!asset.logo) return null;
    return { url: `${ownOrigin(request)}/originals/${asset.logo}`, cacheKey: logoCacheKey(asset.slug) };
  }

  private async row(asset: Asset, request: Request): Promise<string> {
    const name = escapeHtml(asset.name);
    const source = this.logoSource(asset, request);
    const logo = source
      ? `<img class="logo" ${renderImgAttributes(await this.logoAttributes(asset, source))} alt="${name} logo">`
      : `<div class="placeholder" role="img" aria-label="${name} has no logo">no logo</div>`;
    return `<tr>
  <td class="col-logo">${logo}</td>
  <td>${name}</td>
  <td>${escapeHtml(asset.description)}</td>
</tr>`;
  }

  /**
   * The `<img>` attributes of a logo on the page: 128 CSS px (`?w=128`) with its 256 px image for 2x
   * screens, where the original has the pixels; its `width` and `height` from the original's aspect
   * ratio, and its placeholder. An original that cannot be read does not take the page down: its logo
   * then comes without size and placeholder (and its route answers the error).
   */
  private async logoAttributes(asset: Asset, source: ImageSource): Promise<ImgAttributes> {
    const route = [AssetsController, 'logo'] as const;
    const params = { slug: asset.slug };
    // No `sizes`: a fixed box, so density descriptors (1x, 2x).
    const options = { choose: PAGE_LOGO };
    try {
      return await this.images.imgAttributes(route, params, { ...options, source });
    } catch (error) {
      if (!(error instanceof ImageResizeError)) throw error;
      this.logger.warn(`The logo of ${asset.slug} goes without size and placeholder: ${error.message}`);
      return this.images.imgAttributes(route, params, options);
    }
  }
}

/** This server's own origin on loopback, wherever it listens. */
function ownOrigin(request: Request): string {
  const port = request.socket.localPort;
  return `http://127.0.0.1:${port}`;
}
