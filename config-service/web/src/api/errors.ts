// The ONE place where an API failure becomes words for the operator: the service's own
// message when it refused (4xx), a translated sentence for the rest.
import { ApiError } from './client';
import type { Translate } from '../i18n';

export function errorMessage(error: unknown, t: Translate): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return t('error.network');
    if (error.status === 401 && error.code === 'unauthorized') return `${t('error.unauthorized')}: ${error.message}`;
    if (error.status === 429) return `${t('error.locked')}: ${error.message}`;
    if (error.status >= 500) return `${t('error.server')} (${error.status})`;
    return `${t('error.refused')}: ${error.message}`;
  }
  return `${t('error.unexpected')}: ${String(error)}`;
}
