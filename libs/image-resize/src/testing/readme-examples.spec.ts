import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The README's "Testing your app" shows two spec files whole, and excerpts of the controller they
// test; CI runs the files, this keeps the README's copies equal to them.

const ROOT = join(__dirname, '..', '..', '..', '..');
const EXAMPLES = ['src/assets/assets.controller.spec.ts', 'test/assets.e2e-spec.ts'];

/**
 * Each `<!-- example-<kind>: <path> ... -->` marker of `readme` with the ```ts block that follows it:
 * `file` shows the file whole, `excerpt` a run of its lines.
 */
function examplesIn(readme: string, kind: 'file' | 'excerpt'): Array<{ file: string; code: string }> {
  const marker = new RegExp(`<!-- example-${kind}: (\\S+)[^]*?-->\\s*\`\`\`ts\\n([^]*?)^\`\`\`$`, 'gm');
  return [...readme.matchAll(marker)].map(([, file, code]) => ({ file, code }));
}

describe('README examples', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const examples = examplesIn(readme, 'file');
  const excerpts = examplesIn(readme, 'excerpt');

  it.each(EXAMPLES)('shows %s exactly once, as it is in the repository', (file) => {
    const shown = examples.filter((example) => example.file === file);
    expect(shown).toHaveLength(1);
    expect(shown[0].code).toBe(readFileSync(join(ROOT, file), 'utf8'));
  });

  it('marks no other file (each marked file is checked above)', () => {
    const marked = examples.map((example) => example.file);
    expect(marked.filter((file) => !EXAMPLES.includes(file) || !existsSync(join(ROOT, file)))).toEqual([]);
    expect(readme.match(/<!-- example-file:/g)).toHaveLength(examples.length);
  });

  it('shows excerpts that are lines of their files as they are', () => {
    expect(excerpts.length).toBeGreaterThan(0);
    expect(readme.match(/<!-- example-excerpt:/g)).toHaveLength(excerpts.length);
    for (const { file, code } of excerpts) {
      expect(code.startsWith('\n') || code.trim() === '').toBe(false);
      expect(readFileSync(join(ROOT, file), 'utf8')).toContain(code);
    }
  });
});
