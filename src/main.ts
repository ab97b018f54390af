import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port);
  Logger.log(
    `Example app on http://localhost:${port} (${process.env.REDIS_URL ? 'Redis cache' : 'in-memory cache'})`,
    'Bootstrap',
  );
}

void bootstrap();
