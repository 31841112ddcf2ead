// The node or machine table: coverage, then 日95 / 月95 / 月均日95 / peak / total, each raw,
// pushed and the customer's, and what is known of the customer's copy.
import { Button, Table, Tag, Tooltip } from 'antd';
import { LineChartOutlined } from '@ant-design/icons';
import type { ColumnsType } from 'antd/es/table';
import type { SettlementRow } from '../../../api/client';
import { useI18n } from '../../../i18n';
import type { MessageKey } from '../../../locales/zh-CN';
import FigureCell, { type Figure, type Kind } from './FigureCell';

export function rowKeyOf(row: SettlementRow): string {
  return row.machine_id !== undefined ? `m${row.machine_id}` : `n-${row.node}`;
}

const FIGURES: [Figure, MessageKey][] = [
  ['max_day_p95', 'settlement.maxDay95'],
  ['p95', 'settlement.month95'],
  ['mean_day_p95', 'settlement.meanDay95'],
  ['peak', 'settlement.peak'],
  ['total', 'settlement.total'],
];
const KINDS: [Kind, MessageKey][] = [
  ['raw', 'settlement.raw'],
  ['pushed', 'settlement.pushed'],
  ['customer', 'settlement.customerCol'],
];

export default function SettlementTable({
  rows,
  loading,
  groupBy,
  onNode,
  onChart,
}: {
  rows: SettlementRow[];
  loading: boolean;
  groupBy: 'node' | 'machine';
  onNode: (node: string) => void;
  onChart: (row: SettlementRow) => void;
}) {
  const { t } = useI18n();
  const nodeName = (node: string) => node || t('settlement.noNode');
  const columns: ColumnsType<SettlementRow> = [
    {
      title: t('settlement.node'),
      dataIndex: 'node',
      fixed: 'left',
      width: 120,
      render: (node: string) =>
        groupBy === 'node' ? (
          <Button type="link" size="small" style={{ padding: 0 }} onClick={() => onNode(node)} data-testid={`drill-node-${node}`}>
            {nodeName(node)}
          </Button>
        ) : (
          nodeName(node)
        ),
    },
    groupBy === 'node'
      ? { title: t('settlement.machines'), dataIndex: 'machines', width: 70, align: 'right' as const }
      : {
          title: t('settlement.hostname'),
          dataIndex: 'hostname',
          fixed: 'left' as const,
          width: 130,
          render: (host: string, row: SettlementRow) => <Tooltip title={row.macs?.join(' ')}>{host}</Tooltip>,
        },
    {
      title: t('settlement.coverage'),
      width: 110,
      render: (_: unknown, row: SettlementRow) => {
        const full = row.raw.present === row.raw.expected;
        return (
          <span data-testid={`fig-${rowKeyOf(row)}-coverage`} style={{ whiteSpace: 'nowrap', color: full ? undefined : '#d46b08' }}>
            {row.raw.present}/{row.raw.expected}
          </span>
        );
      },
    },
    ...FIGURES.map(([figure, label]) => ({
      title: figure === 'total' ? t(label) : `${t(label)} (Mbps)`,
      children: KINDS.map(([kind, kindLabel]) => ({
        title: t(kindLabel),
        key: `${figure}-${kind}`,
        width: figure === 'total' ? 110 : 90,
        align: 'right' as const,
        render: (_: unknown, row: SettlementRow) => <FigureCell row={row} rowKey={rowKeyOf(row)} figure={figure} kind={kind} />,
      })),
    })),
    {
      title: t('settlement.customer'),
      width: 110,
      render: (_: unknown, row: SettlementRow) => {
        const color = { confirmed: 'success', mismatched: 'error', unverified: 'warning' }[row.customer.status];
        const h = row.customer.hours;
        return (
          <Tooltip title={t(`settlement.customer.${row.customer.status}`, { confirmed: h.confirmed, mismatched: h.mismatched, unverified: h.unverified, extra: h.extra })}>
            <Tag color={color} data-testid={`customer-${rowKeyOf(row)}`}>
              {t(`settlement.status.${row.customer.status}`)}
            </Tag>
          </Tooltip>
        );
      },
    },
    {
      title: '',
      fixed: 'right',
      width: 60,
      render: (_: unknown, row: SettlementRow) => (
        <Tooltip title={t('settlement.chart')}>
          <Button size="small" icon={<LineChartOutlined />} onClick={() => onChart(row)} data-testid={`chart-${rowKeyOf(row)}`} />
        </Tooltip>
      ),
    },
  ];
  return (
    <Table<SettlementRow>
      rowKey={rowKeyOf}
      size="small"
      bordered
      loading={loading}
      columns={columns}
      dataSource={rows}
      scroll={{ x: 1900 }}
      locale={{ emptyText: t('common.empty') }}
      pagination={{ pageSize: 50, showSizeChanger: true, showTotal: (n) => t('common.total', { n }) }}
    />
  );
}
