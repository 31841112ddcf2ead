import { useState } from 'react';
import { Card, Space, Table, Tabs, Tag, Tooltip, Typography } from 'antd';
import { api, type AlertRow, type VerificationRow } from '../../api/client';
import { formatHour, formatTime } from '../../components/format';
import LoadError from '../../components/LoadError';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';

/// The alert's `kind` column says what it was in the incident's life.
function alertState(kind: string): 'firing' | 'recovered' | 'event' {
  if (kind === 'recovered') return 'recovered';
  if (kind === 'event') return 'event';
  return 'firing';
}

function AlertsTable() {
  const { t } = useI18n();
  const [page, setPage] = useState({ page: 1, page_size: 20 });
  const { data, error, loading, reload } = useApi(() => api.alerts(page.page, page.page_size), [page.page, page.page_size]);
  if (error) return <LoadError error={error} onRetry={reload} />;
  const colors = { firing: 'error', recovered: 'success', event: 'processing' } as const;
  return (
    <Table<AlertRow>
      rowKey="id"
      loading={loading}
      dataSource={data?.items ?? []}
      locale={{ emptyText: t('common.empty') }}
      expandable={{ expandedRowRender: (r) => <pre style={{ whiteSpace: 'pre-wrap', margin: 0 }}>{r.body}</pre> }}
      columns={[
        {
          title: t('alerts.state'),
          dataIndex: 'kind',
          render: (kind: string) => {
            const state = alertState(kind);
            return <Tag color={colors[state]}>{t(`alerts.state.${state}`)}</Tag>;
          },
        },
        { title: t('alerts.title'), dataIndex: 'title' },
        { title: t('alerts.kind'), dataIndex: 'kind', render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
        { title: t('alerts.machine'), dataIndex: 'machine_id', render: (v: number | null) => v ?? '-' },
        { title: t('alerts.createdAt'), dataIndex: 'created_at', render: formatTime },
        {
          title: t('alerts.deliveries'),
          dataIndex: 'deliveries',
          render: (deliveries: AlertRow['deliveries']) =>
            deliveries.length === 0 ? (
              '-'
            ) : (
              <Space wrap>
                {deliveries.map((d) => (
                  <Tooltip key={d.channel} title={d.last_error ?? formatTime(d.sent_at)}>
                    <Tag color={d.status === 'sent' ? 'success' : d.status === 'failed' ? 'error' : 'default'}>
                      {d.channel}: {d.status} · {t('alerts.attempts', { n: d.attempts })}
                    </Tag>
                  </Tooltip>
                ))}
              </Space>
            ),
        },
      ]}
      pagination={{
        current: page.page,
        pageSize: page.page_size,
        total: data?.total ?? 0,
        showTotal: (n) => t('common.total', { n }),
        onChange: (p, size) => setPage({ page: p, page_size: size }),
      }}
    />
  );
}

export function VerificationsTable({ machineId }: { machineId?: number }) {
  const { t } = useI18n();
  const [page, setPage] = useState({ page: 1, page_size: machineId === undefined ? 20 : 10 });
  const { data, error, loading, reload } = useApi(
    () => api.verifications(page.page, page.page_size, machineId),
    [page.page, page.page_size, machineId],
  );
  if (error) return <LoadError error={error} onRetry={reload} />;
  return (
    <>
      <Table<VerificationRow>
        rowKey="id"
        size="small"
        loading={loading}
        dataSource={data?.items ?? []}
        locale={{ emptyText: t('common.empty') }}
        columns={[
          { title: t('history.mac'), dataIndex: 'mac' },
          { title: t('verify.hour'), dataIndex: 'flux_hour', render: formatHour },
          { title: t('history.version'), dataIndex: 'version' },
          {
            title: t('verify.matched'),
            dataIndex: 'matched',
            render: (v: boolean) => <Tag color={v ? 'success' : 'error'}>{v ? t('common.yes') : t('common.no')}</Tag>,
          },
          { title: t('verify.corrected'), dataIndex: 'corrected', render: (v: boolean) => (v ? t('common.yes') : '-') },
          { title: t('verify.verifiedAt'), dataIndex: 'verified_at', render: formatTime },
          { title: t('verify.message'), dataIndex: 'message', render: (v: string | null) => v ?? '-' },
        ]}
        data-testid={machineId === undefined ? 'verifications' : 'machine-verifications'}
        pagination={{
          current: page.page,
          pageSize: page.page_size,
          total: data?.total ?? 0,
          showTotal: (n) => t('common.total', { n }),
          onChange: (p, size) => setPage({ page: p, page_size: size }),
        }}
      />
    </>
  );
}

export default function AlertsPage() {
  const { t } = useI18n();
  return (
    <Card>
      <Tabs
        items={[
          { key: 'alerts', label: t('alerts.tab.alerts'), children: <AlertsTable /> },
          { key: 'verifications', label: t('alerts.tab.verifications'), children: <VerificationsTable /> },
        ]}
      />
    </Card>
  );
}
