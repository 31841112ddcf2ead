import { useState } from 'react';
import { Button, Card, DatePicker, Form, Input, Select, Table, Tag, Tooltip } from 'antd';
import { DownloadOutlined } from '@ant-design/icons';
import type { Dayjs } from 'dayjs';
import { api, type HistoryQuery, type HistoryRow } from '../../api/client';
import Bytes from '../../components/Bytes';
import { formatHour, formatTime, percent } from '../../components/format';
import FilterButtons from '../../components/FilterButtons';
import LoadError from '../../components/LoadError';
import { fixedText } from '../../components/offsets';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';

const MAC = /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/;

interface FilterForm {
  node?: string;
  host?: string;
  mac?: string;
  status?: 'success' | 'failure';
  hours?: [Dayjs | null, Dayjs | null] | null;
}

export default function HistoryPage() {
  const { t } = useI18n();
  const [filter, setFilter] = useState<HistoryQuery>({});
  const [page, setPage] = useState({ page: 1, page_size: 20 });
  const query = { ...filter, ...page };
  const { data, error, loading, reload } = useApi(() => api.history(query), [JSON.stringify(query)]);
  const [form] = Form.useForm<FilterForm>();
  const apply = (values: FilterForm) => {
    const [from, to] = values.hours ?? [null, null];
    setFilter({
      node: values.node?.trim() || undefined,
      host: values.host?.trim() || undefined,
      mac: values.mac?.trim() || undefined,
      status: values.status,
      from_hour: from ? from.format('YYYYMMDDHH') : undefined,
      to_hour: to ? to.format('YYYYMMDDHH') : undefined,
    });
    setPage((p) => ({ ...p, page: 1 }));
  };
  const columns = [
    { title: t('history.node'), dataIndex: 'node', width: 90, render: (v: string | null) => v ?? '-' },
    { title: t('history.hostname'), dataIndex: 'hostname', width: 130 },
    { title: t('history.mac'), dataIndex: 'mac', width: 170, render: (v: string) => <span style={{ fontFamily: 'monospace', whiteSpace: 'nowrap' }}>{v}</span> },
    {
      title: t('history.hour'),
      dataIndex: 'flux_hour',
      width: 150,
      render: (v: string, row: HistoryRow) => {
        // Points a push switch sent as 0 (raw kept): which 5-minute slots of the hour.
        const off = [...Array(12).keys()].filter((i) => (row.off_slots ?? 0) & (1 << i));
        return (
          <span style={{ whiteSpace: 'nowrap' }}>
            {formatHour(v)}
            {off.length > 0 && (
              <Tooltip title={t('history.offSlots', { slots: off.map((i) => `${v.slice(8, 10)}:${String(i * 5).padStart(2, '0')}`).join(', ') })}>
                <Tag color="default" style={{ marginLeft: 4 }} data-testid={`history-off-${row.id}`}>
                  {t('history.partlyOff', { n: off.length })}
                </Tag>
              </Tooltip>
            )}
          </span>
        );
      },
    },
    {
      title: t('history.pushed'),
      dataIndex: 'pushed_bytes',
      width: 120,
      align: 'right' as const,
      render: (_: number, row: HistoryRow) => (
        <Bytes
          value={row.pushed_bytes}
          extra={
            <>
              <br />
              {t('history.raw')}: {row.raw_bytes.toLocaleString('en-US')}
              <br />
              {t('history.offset')}: {percent(row.offset_bp)}
              <br />
              {t('history.fixed')}: {fixedText(row.offset_fixed_bytes ?? 0)}/{t('offsets.perPoint')}
            </>
          }
        />
      ),
    },
    {
      title: t('history.offset'),
      width: 130,
      render: (_: unknown, row: HistoryRow) => (
        <span style={{ whiteSpace: 'nowrap' }} data-testid={`history-offset-${row.id}`}>
          {percent(row.offset_bp)}
          <br />
          {fixedText(row.offset_fixed_bytes ?? 0)}/{t('offsets.perPoint')}
        </span>
      ),
    },
    { title: t('history.version'), dataIndex: 'version', width: 70, align: 'right' as const },
    {
      title: t('history.status'),
      dataIndex: 'status',
      width: 90,
      render: (v: HistoryRow['status']) => (
        <Tag color={v === 'success' ? 'success' : 'error'}>{t(`history.status.${v}`)}</Tag>
      ),
    },
    { title: t('history.attempt'), dataIndex: 'attempt', width: 90, align: 'right' as const },
    {
      title: t('history.lastError'),
      dataIndex: 'message',
      ellipsis: true,
      render: (v: string | null, row: HistoryRow) =>
        row.status === 'failure' ? (
          <Tooltip title={`HTTP ${row.http_status ?? '-'} / code ${row.code ?? '-'}: ${v ?? ''}`}>{v ?? '-'}</Tooltip>
        ) : (
          '-'
        ),
    },
    { title: t('history.updated'), dataIndex: 'attempted_at', width: 170, render: (v: number) => <span style={{ whiteSpace: 'nowrap' }}>{formatTime(v)}</span> },
  ];
  return (
    <Card>
      <Form form={form} layout="inline" onFinish={apply} style={{ marginBottom: 16, rowGap: 8 }} data-testid="history-filter">
        <Form.Item name="node">
          <Input placeholder={t('history.node')} allowClear style={{ width: 140 }} />
        </Form.Item>
        <Form.Item name="host">
          <Input placeholder={t('history.hostname')} allowClear style={{ width: 140 }} />
        </Form.Item>
        <Form.Item name="mac" rules={[{ pattern: MAC, message: t('history.macInvalid') }]}>
          <Input placeholder={t('history.mac')} allowClear style={{ width: 180 }} />
        </Form.Item>
        <Form.Item name="status">
          <Select
            placeholder={t('history.status')}
            allowClear
            style={{ width: 120 }}
            options={[
              { value: 'success', label: t('history.status.success') },
              { value: 'failure', label: t('history.status.failure') },
            ]}
          />
        </Form.Item>
        <Form.Item name="hours">
          <DatePicker.RangePicker showTime={{ format: 'HH' }} format="YYYY-MM-DD HH:00" placeholder={[t('history.hourRange'), '']} />
        </Form.Item>
        <FilterButtons onReset={() => apply({})}>
          <Button icon={<DownloadOutlined />} href={api.historyCsvUrl(filter)} download data-testid="export-csv">
            {t('history.exportCsv')}
          </Button>
        </FilterButtons>
      </Form>
      {error ? (
        <LoadError error={error} onRetry={reload} />
      ) : (
        <Table<HistoryRow>
          rowKey="id"
          size="middle"
          loading={loading}
          columns={columns}
          dataSource={data?.items ?? []}
          scroll={{ x: 1430 }}
          locale={{ emptyText: t('common.empty') }}
          pagination={{
            current: page.page,
            pageSize: page.page_size,
            total: data?.total ?? 0,
            showSizeChanger: true,
            showTotal: (n) => t('common.total', { n }),
            onChange: (p, size) => setPage({ page: size === page.page_size ? p : 1, page_size: size }),
          }}
        />
      )}
    </Card>
  );
}
