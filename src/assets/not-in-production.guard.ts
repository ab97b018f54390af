import { type CanActivate, Injectable } from '@nestjs/common';

/**
 * Lets a request through unless `NODE_ENV` is `production` (refused with 403): the example's stand-in
 * for the guard that a real app puts on its admin actions, such as purging a logo.
 */
@Injectable()
export class NotInProductionGuard implements CanActivate {
  canActivate(): boolean {
    return process.env.NODE_ENV !== 'production';
  }
}
