import { Alert, Button } from 'antd';
import { errorMessage } from '../api/errors';
import { useI18n } from '../i18n';

/// The error state of a page or a card: the message and a retry button.
export default function LoadError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  const { t } = useI18n();
  return (
    <Alert
      type="error"
      showIcon
      title={t('error.loadFailed')}
      description={errorMessage(error, t)}
      action={
        <Button size="small" onClick={onRetry}>
          {t('common.retry')}
        </Button>
      }
    />
  );
}
