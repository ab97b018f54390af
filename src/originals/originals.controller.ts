import { Controller, Get, NotFoundException, Param, StreamableFile } from '@nestjs/common';
import { OriginalsService } from './originals.service';

/** Serves the original logos, as any web server holding them would. */
@Controller('originals')
export class OriginalsController {
  constructor(private readonly originals: OriginalsService) {}

  @Get(':name')
  get(@Param('name') name: string): StreamableFile {
    const file = this.originals.get(name);
    if (!file) throw new NotFoundException('Unknown original');
    return new StreamableFile(file.body, { type: file.contentType, length: file.body.length });
  }
}
