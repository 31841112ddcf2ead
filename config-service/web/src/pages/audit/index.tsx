import { useState } from 'react';
import { Card, Table, Typography } from 'antd';
import { api, type AuditRow } from '../../api/client';
import { formatTime } from '../../components/format';
import LoadError from '../../components/LoadError';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';

export default function AuditPage() {
  const { t } = useI18n();
  const [page, setPage] = useState({ page: 1, page_size: 20 });
  const { data, error, loading, reload } = useApi(() => api.audit(page.page, page.page_size), [page.page, page.page_size]);
  if (error) return <LoadError error={error} onRetry={reload} />;
  return (
    <Card>
      <Table<AuditRow>
        rowKey="id"
        loading={loading}
        dataSource={data?.items ?? []}
        locale={{ emptyText: t('common.empty') }}
        columns={[
          { title: t('audit.at'), dataIndex: 'at', render: formatTime, width: 180 },
          { title: t('audit.actor'), dataIndex: 'actor' },
          {
            title: t('audit.level'),
            dataIndex: 'level',
            width: 90,
            render: (v: AuditRow['level']) => (v ? t(`offsets.level.${v}`) : '-'),
          },
          { title: t('audit.entity'), width: 200, render: (_, r) => <span style={{ whiteSpace: 'nowrap' }}>{`${r.entity} ${r.entity_id}`}</span> },
          { title: t('audit.field'), dataIndex: 'field', width: 240, render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
          {
            title: t('audit.change'),
            render: (_, r) => (
              <span className="audit-change">
                <Typography.Text delete type="secondary">{r.old_value ?? '∅'}</Typography.Text>
                {' → '}
                <Typography.Text strong>{r.new_value ?? '∅'}</Typography.Text>
              </span>
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
    </Card>
  );
}
