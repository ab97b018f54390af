import sharp from 'sharp';
import { InvalidImageError } from '../errors/image-resize.errors';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import { resolveResizeSpec } from '../spec/resize-spec.resolver';
import { checkContainer } from './image-container.checks';
import { SharpImageProcessor } from './sharp-image.processor';

jest.mock('./image-container.checks', () => ({
  ...jest.requireActual<object>('./image-container.checks'),
  checkContainer: jest.fn(),
}));
const checked = checkContainer as jest.MockedFunction<typeof checkContainer>;

const options = resolveImageResizeOptions({ maxJpegScans: 40, allowSvg: true, maxInputPixels: 1_000_000 });
const processor = new SharpImageProcessor(options);
afterAll(() => processor.onApplicationShutdown());
const spec = resolveResizeSpec({ width: 256, height: 256 }, options);
const png = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#00f' } })
    .png()
    .toBuffer();

describe('SharpImageProcessor and the container checks', () => {
  beforeEach(() => checked.mockReset());

  it('checks the container with the module limits, then decodes the bytes the checks return', async () => {
    const original = await png(80, 80);
    checked.mockReturnValue(await png(40, 20));
    const out = await processor.process(original, spec);
    expect(checked).toHaveBeenCalledWith(original, {
      maxJpegScans: 40,
      allowSvg: true,
      maxInputPixels: 1_000_000,
    });
    expect([out.width, out.height]).toEqual([40, 20]);
  });

  it('passes on their refusal without starting any work', async () => {
    checked.mockImplementation(() => {
      throw new InvalidImageError('JPEG has too many scans');
    });
    await expect(processor.process(await png(8, 8), spec)).rejects.toThrow('JPEG has too many scans');
  });
});
