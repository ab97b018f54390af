import type { ImageSourceDescriptor, LoadedSource, SourceValidators } from './image-source.interface';
import type { ImageSourceLoader, SourceLoadContext } from './image-source-loader.interface';

/**
 * The module's loader, with the validators of a revalidation passed on to it. The service admits
 * every load — a miss's and a revalidation's alike — through one `SourceAdmission` (its deadline and
 * its share of `maxSourceBytesInFlight`) over this loader; a revalidation loads a copy of the source
 * made by {@link conditional}, and only that copy's load carries `context.validators`.
 */
export class ConditionalSourceLoader implements ImageSourceLoader {
  private readonly validators = new WeakMap<ImageSourceDescriptor, SourceValidators>();

  constructor(private readonly loader: ImageSourceLoader) {}

  /** A copy of `source` whose load is conditional on `validators` (none: an ordinary load). */
  conditional(
    source: ImageSourceDescriptor,
    validators: SourceValidators | undefined,
  ): ImageSourceDescriptor {
    const copy = { ...source } as ImageSourceDescriptor;
    if (validators) this.validators.set(copy, validators);
    return copy;
  }

  load(source: ImageSourceDescriptor, context?: SourceLoadContext): Promise<LoadedSource> {
    const validators = this.validators.get(source);
    return this.loader.load(source, validators ? { ...context, validators } : context);
  }
}
