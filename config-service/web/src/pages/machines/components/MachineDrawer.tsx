import { Alert, Card, Descriptions, Drawer, Skeleton, Table, Tag } from 'antd';
import { api, type HistoryRow, type Machine } from '../../../api/client';
import BarChart from '../../../components/BarChart';
import Bytes from '../../../components/Bytes';
import { formatHour, formatTime, humanBytes, percent, reportHour } from '../../../components/format';
import LoadError from '../../../components/LoadError';
import { useApi } from '../../../components/useApi';
import { useI18n } from '../../../i18n';
import { VerificationsTable } from '../../alerts';

const WEEK_HOURS = 7 * 24;

/// Pushed bytes per hour over the last 7 days (newest version of each hour that succeeded).
function weekBars(rows: HistoryRow[]) {
  const newest = new Map<string, HistoryRow>();
  for (const row of rows) {
    if (row.status !== 'success') continue;
    const seen = newest.get(row.flux_hour);
    if (!seen || seen.version < row.version) newest.set(row.flux_hour, row);
  }
  const bars = [];
  for (let ago = WEEK_HOURS; ago >= 1; ago--) {
    const hour = reportHour(ago);
    const value = newest.get(hour)?.pushed_bytes ?? 0;
    bars.push({ label: hour.slice(8, 10) === '00' ? `${hour.slice(4, 6)}-${hour.slice(6, 8)}` : '', value, tip: `${formatHour(hour)} ${humanBytes(value)}` });
  }
  return bars;
}

export default function MachineDrawer({ machineId, onClose }: { machineId: number; onClose: () => void }) {
  const { t } = useI18n();
  const { data, error, loading, reload } = useApi(async () => {
    const [machine, week] = await Promise.all([
      api.machine(machineId),
      api.history({ machine_id: machineId, from_hour: reportHour(WEEK_HOURS), page_size: 500, sort: 'flux_hour' }),
    ]);
    return { machine, week };
  }, [machineId]);
  const history = useApi(() => api.history({ machine_id: machineId, page_size: 10 }), [machineId]);
  const m: Machine | undefined = data?.machine;
  return (
    <Drawer open size={900} title={m ? `${m.hostname} · ${m.mac}` : t('common.loading')} onClose={onClose} data-testid="machine-drawer">
      {error ? (
        <LoadError error={error} onRetry={reload} />
      ) : loading || !m || !data ? (
        <Skeleton active />
      ) : (
        <>
          <Descriptions title={t('machines.facts')} size="small" bordered column={2}>
            <Descriptions.Item label={t('machines.hostname')}>{m.hostname}</Descriptions.Item>
            <Descriptions.Item label={t('machines.mac')}>{m.mac}</Descriptions.Item>
            <Descriptions.Item label={t('machines.uid')}>{m.machine_uid}</Descriptions.Item>
            <Descriptions.Item label={t('machines.version')}>{m.agent_version}</Descriptions.Item>
            <Descriptions.Item label={t('machines.state')}>
              <Tag color={m.state === 'online' ? 'success' : 'error'}>{t(`machines.state.${m.state}`)}</Tag>
            </Descriptions.Item>
            <Descriptions.Item label={t('machines.interface')}>
              {m.chosen_interface ?? '-'} {m.ambiguous && <Tag color="warning">{t('machines.ambiguous')}</Tag>}
            </Descriptions.Item>
            <Descriptions.Item label={t('machines.firstSeen')}>{formatTime(m.first_seen_at)}</Descriptions.Item>
            <Descriptions.Item label={t('machines.lastSeen')}>{formatTime(m.last_seen_at)}</Descriptions.Item>
            <Descriptions.Item label={t('machines.agentTime')}>{formatTime(m.agent_time)}</Descriptions.Item>
            <Descriptions.Item label={t('machines.backlog')}>
              {t('machines.backlogValue', { o: m.backlog_outbox_hours, h: m.backlog_history_items, held: m.backlog_held_hours })}
            </Descriptions.Item>
            <Descriptions.Item label={t('machines.interfaces')} span={2}>
              {(m.interfaces ?? []).map((i) => (
                <Tag key={i.name} color={i.physical ? (i.name === m.chosen_interface ? 'blue' : 'default') : undefined} bordered={i.physical}>
                  {i.name}
                  {i.mac ? ` ${i.mac}` : ''} · {i.physical ? t('machines.physical') : t('machines.virtual')}
                </Tag>
              ))}
            </Descriptions.Item>
          </Descriptions>
          <Card title={t('machines.macHistory')} size="small" style={{ marginTop: 16 }}>
            <Alert type="info" showIcon title={t('machines.macHistoryMissing', { mac: m.mac })} />
          </Card>
          <Card title={t('machines.traffic7d')} size="small" style={{ marginTop: 16 }}>
            <BarChart bars={weekBars(data.week.items)} height={180} format={humanBytes} labelEvery={1} />
          </Card>
          <Card title={t('machines.pushHistory')} size="small" style={{ marginTop: 16 }}>
            {history.error ? (
              <LoadError error={history.error} onRetry={history.reload} />
            ) : (
              <Table<HistoryRow>
                rowKey="id"
                size="small"
                loading={history.loading}
                pagination={false}
                dataSource={history.data?.items ?? []}
                locale={{ emptyText: t('common.empty') }}
                columns={[
                  { title: t('history.hour'), dataIndex: 'flux_hour', render: formatHour },
                  {
                    title: t('history.pushed'),
                    dataIndex: 'pushed_bytes',
                    render: (_, r) => <Bytes value={r.pushed_bytes} extra={<><br />{t('history.raw')}: {r.raw_bytes.toLocaleString('en-US')} · {percent(r.offset_bp)}</>} />,
                  },
                  { title: t('history.version'), dataIndex: 'version' },
                  {
                    title: t('history.status'),
                    dataIndex: 'status',
                    render: (v: HistoryRow['status']) => <Tag color={v === 'success' ? 'success' : 'error'}>{t(`history.status.${v}`)}</Tag>,
                  },
                  { title: t('history.attempt'), dataIndex: 'attempt' },
                  { title: t('history.updated'), dataIndex: 'attempted_at', render: formatTime },
                ]}
              />
            )}
          </Card>
          <Card title={t('machines.verifications')} size="small" style={{ marginTop: 16 }}>
            <VerificationsTable machineId={m.id} />
          </Card>
        </>
      )}
    </Drawer>
  );
}
