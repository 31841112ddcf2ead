import { useState } from 'react';
import { Alert, App, Button, Card, Space, Table, Tag, Typography } from 'antd';
import { api, type EnrollmentToken } from '../../../api/client';
import { errorMessage } from '../../../api/errors';
import { formatTime } from '../../../components/format';
import LoadError from '../../../components/LoadError';
import { useApi } from '../../../components/useApi';
import { useI18n } from '../../../i18n';

/// The enrollment tokens: create, rotate (create + revoke the others), revoke; a new token is
/// shown once, in this card, and never again.
export default function EnrollmentTokens() {
  const { t } = useI18n();
  const { modal, message } = App.useApp();
  const { data, error, loading, reload } = useApi(() => api.enrollmentTokens(), []);
  const [created, setCreated] = useState<string | null>(null);
  if (error) return <LoadError error={error} onRetry={reload} />;
  const create = async (rotate: boolean) => {
    try {
      const answer = await api.createEnrollmentToken(rotate);
      setCreated(answer.token);
      reload();
    } catch (e) {
      message.error(errorMessage(e, t));
    }
  };
  const confirmRotate = () =>
    modal.confirm({
      title: t('enroll.rotateConfirm'),
      okText: t('common.ok'),
      cancelText: t('common.cancel'),
      okButtonProps: { danger: true },
      onOk: () => create(true),
    });
  const confirmRevoke = (id: number) =>
    modal.confirm({
      title: t('enroll.revokeConfirm', { id }),
      okText: t('common.ok'),
      cancelText: t('common.cancel'),
      okButtonProps: { danger: true },
      onOk: async () => {
        try {
          await api.revokeEnrollmentToken(id);
          reload();
        } catch (e) {
          message.error(errorMessage(e, t));
        }
      },
    });
  return (
    <Card size="small" title={t('enroll.title')} data-testid="enrollment-tokens">
      <Space orientation="vertical" style={{ width: '100%' }}>
        <Typography.Text type="secondary">{t('enroll.help')}</Typography.Text>
        {data?.settings_token && <Typography.Text type="secondary">{t('enroll.settingsToken')}</Typography.Text>}
        {created && (
          <Alert
            type="warning"
            showIcon
            message={t('enroll.created')}
            description={<Typography.Text copyable code data-testid="new-enrollment-token">{created}</Typography.Text>}
            closable
            onClose={() => setCreated(null)}
          />
        )}
        <Space>
          <Button onClick={() => create(false)} data-testid="enroll-create">{t('enroll.create')}</Button>
          <Button danger onClick={confirmRotate} data-testid="enroll-rotate">{t('enroll.rotate')}</Button>
        </Space>
        <Table<EnrollmentToken>
          size="small"
          rowKey="id"
          loading={loading}
          dataSource={data?.items ?? []}
          pagination={false}
          columns={[
            { title: t('enroll.id'), dataIndex: 'id', width: 80 },
            { title: t('enroll.createdAt'), dataIndex: 'created_at', render: (v: number) => formatTime(v) },
            { title: t('enroll.createdBy'), dataIndex: 'created_by' },
            {
              title: t('enroll.status'),
              dataIndex: 'revoked_at',
              render: (v: number | null) =>
                v === null ? <Tag color="green">{t('enroll.active')}</Tag> : <Tag>{t('enroll.revoked', { at: formatTime(v) })}</Tag>,
            },
            {
              title: t('common.actions'),
              key: 'actions',
              render: (_: unknown, row: EnrollmentToken) =>
                row.revoked_at === null && (
                  <Button size="small" danger onClick={() => confirmRevoke(row.id)} data-testid={`enroll-revoke-${row.id}`}>
                    {t('enroll.revoke')}
                  </Button>
                ),
            },
          ]}
        />
      </Space>
    </Card>
  );
}
