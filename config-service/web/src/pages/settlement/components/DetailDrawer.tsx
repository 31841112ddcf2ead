// One machine's or node's month: the daily 日95 chart with the 月95 line and the days' figures;
// a day opens its 288 five-minute points with that day's 日95 line. Pushed, raw, or the
// customer's own points when the agents read every hour back.
import { useState } from 'react';
import { Button, Drawer, Segmented, Space, Table, Typography } from 'antd';
import { api, type SettlementDay, type SettlementQuery, type SettlementRow } from '../../../api/client';
import BarChart from '../../../components/BarChart';
import { humanBytes } from '../../../components/format';
import LoadError from '../../../components/LoadError';
import { useApi } from '../../../components/useApi';
import { useI18n } from '../../../i18n';
import { mbpsText, type Kind } from './FigureCell';

export interface Detail {
  title: string;
  query: SettlementQuery;
}

/// bytes × 8 / 300 s / 10^6, in that order (exact for whole Mbps).
const mbpsOf = (bytes: number) => (bytes * 8) / 300 / 1e6;

function dayLabel(day: string): string {
  return `${day.slice(4, 6)}-${day.slice(6, 8)}`;
}

export default function DetailDrawer({ detail, onClose }: { detail: Detail; onClose: () => void }) {
  const { t } = useI18n();
  const [kind, setKind] = useState<Kind>('pushed');
  const [day, setDay] = useState<string | null>(null);
  const month = useApi(() => api.settlementSeries(detail.query), [JSON.stringify(detail.query)]);
  const dayQuery = day ? { ...detail.query, from: day, to: day } : null;
  const points = useApi(() => (dayQuery ? api.settlementSeries(dayQuery) : Promise.resolve(null)), [JSON.stringify(dayQuery)]);
  const figuresOf = (row: SettlementRow | null | undefined) => (kind === 'customer' ? row?.customer.figures : row?.[kind]);
  const figures = figuresOf(month.data?.row);
  const days = figures?.days ?? [];
  const dayFigures = figuresOf(points.data?.row)?.days?.[0];
  const slotBytes = kind === 'raw' ? points.data?.raw_bytes : kind === 'customer' ? points.data?.customer_bytes : points.data?.pushed_bytes;
  const slotPresent = kind === 'customer' ? points.data?.customer_present : points.data?.present;
  return (
    <Drawer open onClose={onClose} size={920} title={detail.title} data-testid="settlement-drawer">
      <Space style={{ marginBottom: 12 }}>
        <Segmented
          value={kind}
          onChange={(v) => setKind(v as Kind)}
          options={[
            { value: 'pushed', label: t('settlement.pushed') },
            { value: 'raw', label: t('settlement.raw') },
            // The customer's own points, where the agents read every hour back.
            ...(month.data?.row?.customer.figures ? [{ value: 'customer', label: t('settlement.customerCol') }] : []),
          ]}
        />
        {day && (
          <Button onClick={() => setDay(null)} data-testid="back-to-month">
            {t('settlement.backToMonth')}
          </Button>
        )}
      </Space>
      {month.error ? (
        <LoadError error={month.error} onRetry={month.reload} />
      ) : day === null ? (
        <>
          <Typography.Text strong>{t('settlement.dailyChart')}</Typography.Text>
          <div data-testid="daily-chart">
            <BarChart
              bars={days.map((d) => ({ label: dayLabel(d.day), value: d.p95_mbps, id: d.day }))}
              format={(v) => `${mbpsText(v)} Mbps`}
              labelEvery={3}
              line={figures ? { value: figures.p95_mbps, label: `${t('settlement.month95')} ${mbpsText(figures.p95_mbps)} Mbps` } : undefined}
              onBarClick={(i) => setDay(days[i].day)}
            />
          </div>
          <Table<SettlementDay>
            rowKey="day"
            size="small"
            style={{ marginTop: 16 }}
            loading={month.loading}
            dataSource={days}
            pagination={false}
            columns={[
              {
                title: t('settlement.day'),
                dataIndex: 'day',
                render: (d: string) => (
                  <Button type="link" size="small" style={{ padding: 0 }} onClick={() => setDay(d)} data-testid={`day-${d}`}>
                    {d}
                  </Button>
                ),
              },
              { title: `${t('settlement.day95')} (Mbps)`, dataIndex: 'p95_mbps', align: 'right', render: (v: number, d) => <span data-testid={`day95-${d.day}`}>{mbpsText(v)}</span> },
              { title: `${t('settlement.peak')} (Mbps)`, dataIndex: 'peak_mbps', align: 'right', render: (v: number) => mbpsText(v) },
              { title: t('settlement.total'), dataIndex: 'total_bytes', align: 'right', render: (v: number) => humanBytes(v) },
              { title: t('settlement.coverage'), render: (_: unknown, d) => `${d.present}/${d.expected}` },
            ]}
          />
        </>
      ) : points.error ? (
        <LoadError error={points.error} onRetry={points.reload} />
      ) : (
        <>
          <Typography.Text strong>{t('settlement.pointsOf', { day })}</Typography.Text>
          <div data-testid="points-chart">
            <BarChart
              bars={(slotBytes ?? []).map((bytes, i) => {
                // Slot i of a report day starts i × 5 minutes after its 00:00.
                const hhmm = `${String(Math.floor(i / 12)).padStart(2, '0')}:${String((i % 12) * 5).padStart(2, '0')}`;
                return {
                  label: i % 12 === 0 ? hhmm.slice(0, 2) : '',
                  value: mbpsOf(bytes),
                  id: `slot-${i}`,
                  color: slotPresent && slotPresent[i] === 0 ? '#d9d9d9' : undefined,
                  tip: `${hhmm} ${mbpsText(mbpsOf(bytes))} Mbps (${bytes.toLocaleString('en-US')} B)`,
                };
              })}
              height={240}
              labelEvery={12}
              format={(v) => `${mbpsText(v)} Mbps`}
              line={dayFigures ? { value: dayFigures.p95_mbps, label: `${t('settlement.day95')} ${mbpsText(dayFigures.p95_mbps)} Mbps` } : undefined}
            />
          </div>
          {dayFigures && (
            <Typography.Paragraph type="secondary" style={{ marginTop: 8 }} data-testid="day-summary">
              {t('settlement.daySummary', {
                p95: mbpsText(dayFigures.p95_mbps),
                peak: mbpsText(dayFigures.peak_mbps),
                total: humanBytes(dayFigures.total_bytes),
                present: dayFigures.present,
                expected: dayFigures.expected,
              })}
            </Typography.Paragraph>
          )}
        </>
      )}
    </Drawer>
  );
}
