import { Injectable } from '@nestjs/common';

/** An asset of the example catalogue. `logo` is the file name of its original logo, if it has one. */
export interface Asset {
  slug: string;
  name: string;
  description: string;
  logo?: string;
}

const ASSETS: readonly Asset[] = [
  {
    slug: 'aurora',
    name: 'Aurora',
    description: 'Large PNG logo (1200x1200) with a transparent background',
    logo: 'aurora.png',
  },
  {
    slug: 'basalt',
    name: 'Basalt',
    description: 'JPEG logo (800x500), no transparency',
    logo: 'basalt.jpg',
  },
  {
    slug: 'cobalt',
    name: 'Cobalt',
    description: 'Small PNG logo (96x96): never enlarged',
    logo: 'cobalt.png',
  },
  { slug: 'dune', name: 'Dune', description: 'No logo: the page shows a placeholder' },
];

/** The example's catalogue of assets; a real app would read these from its database. */
@Injectable()
export class AssetsService {
  all(): readonly Asset[] {
    return ASSETS;
  }

  find(slug: string): Asset | undefined {
    return ASSETS.find((asset) => asset.slug === slug);
  }
}
