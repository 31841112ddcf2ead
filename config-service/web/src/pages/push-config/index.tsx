import { useState } from 'react';
import { App, Card, Skeleton, Space, Switch, Typography } from 'antd';
import { api, type GlobalConfig } from '../../api/client';
import { errorMessage } from '../../api/errors';
import LoadError from '../../components/LoadError';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';
import EnrollmentTokens from './components/EnrollmentTokens';
import PushConfigForm from './components/PushConfigForm';

export default function PushConfigPage() {
  const { t } = useI18n();
  const { modal, message } = App.useApp();
  const { data, error, loading, reload } = useApi(() => api.globalConfig(), []);
  const [saved, setSaved] = useState<GlobalConfig | null>(null);
  const doc = saved ?? data;
  if (error) return <LoadError error={error} onRetry={reload} />;
  if (loading && !doc) return <Skeleton active paragraph={{ rows: 10 }} />;
  if (!doc) return null;
  const toggle = (on: boolean) =>
    modal.confirm({
      title: on ? t('push.globalSwitchOnConfirm') : t('push.globalSwitchOffConfirm'),
      okText: t('common.ok'),
      cancelText: t('common.cancel'),
      okButtonProps: { danger: !on },
      onOk: async () => {
        try {
          const { customer, ...rest } = doc;
          const { secret_set: _set, ...plainCustomer } = customer;
          const next = await api.updateGlobalConfig({
            ...rest,
            customer: plainCustomer,
            push_enabled: on,
            alerts: { ...doc.alerts, channels: doc.alerts.channels.map(({ secret_set: _s, ...c }) => c) },
          });
          setSaved(next);
          message.success(t('common.saved'));
        } catch (e) {
          message.error(errorMessage(e, t));
        }
      },
    });
  return (
    <Space orientation="vertical" style={{ width: '100%' }} size={16}>
      <Card size="small">
        <Space size="large">
          <Typography.Text strong>{t('push.globalSwitch')}</Typography.Text>
          <Switch checked={doc.push_enabled} onChange={toggle} checkedChildren={t('common.on')} unCheckedChildren={t('common.off')} data-testid="global-switch" />
          <Typography.Text type="secondary">{t('push.version', { v: doc.version ?? '-' })}</Typography.Text>
        </Space>
      </Card>
      <PushConfigForm key={doc.version} stored={doc} onSaved={setSaved} />
      <EnrollmentTokens />
    </Space>
  );
}
