import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { packageReadme, relativeLinks } = require('./pack-lib.js') as {
  packageReadme(markdown: string): string;
  relativeLinks(markdown: string): string[];
};

describe('the README the package carries', () => {
  const readme = packageReadme(readFileSync(join(__dirname, '..', 'README.md'), 'utf8'));

  it('leaves out what is about this repository, and keeps what a user needs', () => {
    expect(readme).not.toMatch(/^## (Quick start|Repository layout)$/m);
    expect(readme).not.toContain('repository-only');
    expect(readme).toMatch(/^### Install$/m);
    expect(readme).toMatch(/^## Troubleshooting$/m);
  });

  it('has no link that breaks outside the repository', () => {
    expect(relativeLinks(readme)).toEqual([]);
    expect(relativeLinks('see [the API](docs/API.md) and ![chart](bench/a.svg)\n[x]: CHANGELOG.md')).toEqual([
      '1: docs/API.md',
      '1: bench/a.svg',
      '2: CHANGELOG.md',
    ]);
  });

  it('has no in-page link to a section it left out', () => {
    const headings = new Set(
      [...readme.matchAll(/^#{1,6} (.+)$/gm)].map(([, title]) =>
        title
          .toLowerCase()
          .replace(/[^\w\s-]/g, '')
          .replace(/\s/g, '-'),
      ),
    );
    const anchors = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map(([, anchor]) => anchor);
    expect(anchors.length).toBeGreaterThan(0);
    expect(anchors.filter((anchor) => !headings.has(anchor))).toEqual([]);
  });

  it('refuses a repository-only part that is not closed', () => {
    expect(() => packageReadme('a\n<!-- repository-only -->\nb')).toThrow(
      /1 repository-only parts opened, 0 closed/,
    );
  });
});
