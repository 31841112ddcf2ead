// 结算: the 95th-percentile figures finance signs off on, per node and per machine, raw vs
// pushed vs the customer's copy (docs/settlement.md). Every figure is computed by the service.
import { useState } from 'react';
import { Button, Card, DatePicker, Segmented, Space, Tag, Typography } from 'antd';
import { DownloadOutlined } from '@ant-design/icons';
import dayjs, { type Dayjs } from 'dayjs';
import { api, type SettlementQuery, type SettlementRow } from '../../api/client';
import LoadError from '../../components/LoadError';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';
import DetailDrawer, { type Detail } from './components/DetailDrawer';
import SettlementTable from './components/SettlementTable';

export default function SettlementPage() {
  const { t } = useI18n();
  const [month, setMonth] = useState<Dayjs>(() => dayjs());
  const [groupBy, setGroupBy] = useState<'node' | 'machine'>('node');
  const [node, setNode] = useState<string | undefined>(undefined);
  const [detail, setDetail] = useState<Detail | null>(null);
  const range = { from: month.startOf('month').format('YYYYMMDD'), to: month.endOf('month').format('YYYYMMDD') };
  const query: SettlementQuery = { ...range, group_by: groupBy, node: groupBy === 'machine' ? node : undefined };
  const { data, error, loading, reload } = useApi(() => api.settlement(query), [JSON.stringify(query)]);
  const nodeName = (n: string) => n || t('settlement.noNode');
  const openChart = (row: SettlementRow) =>
    setDetail(
      row.machine_id !== undefined
        ? { title: `${row.hostname} · ${month.format('YYYY-MM')}`, query: { ...range, machine_id: row.machine_id } }
        : { title: `${t('settlement.node')} ${nodeName(row.node)} · ${month.format('YYYY-MM')}`, query: { ...range, node: row.node } },
    );
  return (
    <Card>
      <Space wrap style={{ marginBottom: 16 }}>
        <span data-testid="settlement-month">
          <DatePicker picker="month" value={month} allowClear={false} onChange={(m) => m && setMonth(m)} />
        </span>
        <Segmented
          value={groupBy}
          onChange={(v) => setGroupBy(v as 'node' | 'machine')}
          options={[
            { value: 'node', label: t('settlement.byNode') },
            { value: 'machine', label: t('settlement.byMachine') },
          ]}
          data-testid="settlement-group"
        />
        {groupBy === 'machine' && node !== undefined && (
          <Tag closable onClose={() => setNode(undefined)} data-testid="node-filter">
            {t('settlement.node')}: {nodeName(node)}
          </Tag>
        )}
        <Button icon={<DownloadOutlined />} href={api.settlementExportUrl(query, 'csv')} download data-testid="export-csv">
          {t('settlement.exportCsv')}
        </Button>
        <Button icon={<DownloadOutlined />} href={api.settlementExportUrl(query, 'xlsx')} download data-testid="export-xlsx">
          {t('settlement.exportXlsx')}
        </Button>
      </Space>
      {data && (
        <Typography.Paragraph type="secondary" data-testid="settlement-range">
          {t('settlement.rangeNote', { from: data.from, to: data.to, tz: data.report_timezone, days: data.days.length })}
        </Typography.Paragraph>
      )}
      {error ? (
        <LoadError error={error} onRetry={reload} />
      ) : (
        <SettlementTable
          rows={data?.rows ?? []}
          loading={loading}
          groupBy={groupBy}
          onNode={(n) => {
            setNode(n);
            setGroupBy('machine');
          }}
          onChart={openChart}
        />
      )}
      {detail !== null && <DetailDrawer detail={detail} onClose={() => setDetail(null)} />}
    </Card>
  );
}
