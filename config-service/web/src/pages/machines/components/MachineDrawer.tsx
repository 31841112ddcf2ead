import { useState } from 'react';
import { Card, Descriptions, Drawer, Skeleton, Table, Tag, Typography, theme } from 'antd';
import { api, type HistoryRow, type MacChange, type MachineHour, type SkippedHour } from '../../../api/client';
import BarChart from '../../../components/BarChart';
import Bytes from '../../../components/Bytes';
import { formatHour, formatTime, humanBytes, percent } from '../../../components/format';
import LoadError from '../../../components/LoadError';
import { EffectiveOffsetView, fixedText } from '../../../components/offsets';
import { useApi } from '../../../components/useApi';
import { useI18n, type Translate } from '../../../i18n';
import { VerificationsTable } from '../../alerts';
import { HealthAlerts } from './AgentHealth';

/// One bar per closed report hour of the last 7 days, as the service computed it: what reached
/// the customer; an hour whose latest attempt failed is red.
function weekBars(hours: MachineHour[], t: Translate, failedColor: string) {
  return hours.map((h) => ({
    id: h.flux_hour,
    label: h.flux_hour.slice(8, 10) === '00' ? `${h.flux_hour.slice(4, 6)}-${h.flux_hour.slice(6, 8)}` : '',
    value: h.pushed_bytes,
    color: h.status === 'failure' ? failedColor : undefined,
    tip: (
      <span>
        {formatHour(h.flux_hour)} {humanBytes(h.pushed_bytes)}
        <br />
        {h.status === null ? t('machines.hourNoPush') : t('machines.hourAttempts', { n: h.attempts, status: t(`history.status.${h.status}`) })}
      </span>
    ),
  }));
}

function WeekTraffic({ machineId }: { machineId: number }) {
  const { t } = useI18n();
  const { token } = theme.useToken();
  const { data, error, loading, reload } = useApi(() => api.machineTraffic(machineId), [machineId]);
  if (error) return <LoadError error={error} onRetry={reload} />;
  if (loading || !data) return <Skeleton active paragraph={{ rows: 3 }} />;
  return <BarChart bars={weekBars(data.hours, t, token.colorError)} height={180} format={humanBytes} labelEvery={1} />;
}

function MacHistory({ machineId, currentMac }: { machineId: number; currentMac: string }) {
  const { t } = useI18n();
  const [page, setPage] = useState(1);
  const { data, error, loading, reload } = useApi(() => api.macHistory(machineId, page, MAC_PAGE), [machineId, page]);
  if (error) return <LoadError error={error} onRetry={reload} />;
  return (
    <Table<MacChange>
      rowKey="id"
      size="small"
      data-testid="mac-history"
      loading={loading}
      dataSource={data?.items ?? []}
      locale={{ emptyText: t('machines.macHistoryNone', { mac: currentMac }) }}
      columns={[
        { title: t('machines.changedAt'), dataIndex: 'changed_at', render: formatTime },
        { title: t('machines.oldMac'), dataIndex: 'old_mac', render: (v: string) => <span style={{ fontFamily: 'monospace' }}>{v}</span> },
        { title: t('machines.newMac'), dataIndex: 'new_mac', render: (v: string) => <span style={{ fontFamily: 'monospace' }}>{v}</span> },
      ]}
      pagination={
        (data?.total ?? 0) > MAC_PAGE
          ? { current: page, pageSize: MAC_PAGE, total: data?.total ?? 0, showTotal: (n) => t('common.total', { n }), onChange: setPage }
          : false
      }
    />
  );
}

const MAC_PAGE = 5;
const SKIPPED_PAGE = 5;

/// The switch names the agent sends; anything else is shown as sent.
function switchName(s: string, t: Translate): string {
  if (s === 'machine' || s === 'global' || s === 'local') return t(`skipped.switch.${s}`);
  return s;
}

/// Hours the agent did not report because a push switch was off: with the raw bytes it
/// measured (evidence: the customer was not billed for them) and when it decided.
function SkippedHours({ machineId }: { machineId: number }) {
  const { t } = useI18n();
  const [page, setPage] = useState(1);
  const { data, error, loading, reload } = useApi(() => api.skippedHours(machineId, page, SKIPPED_PAGE), [machineId, page]);
  if (error) return <LoadError error={error} onRetry={reload} />;
  return (
    <>
      <Typography.Paragraph type="secondary" style={{ fontSize: 12, marginBottom: 8 }}>
        {t('machines.skippedNote')}
      </Typography.Paragraph>
      <Table<SkippedHour>
        rowKey="id"
        size="small"
        data-testid="skipped-hours"
        loading={loading}
        dataSource={data?.items ?? []}
        locale={{ emptyText: t('machines.skippedNone') }}
        columns={[
          { title: t('history.hour'), dataIndex: 'flux_hour', render: formatHour },
          {
            title: t('history.status'),
            dataIndex: 'reason',
            render: () => <Tag color="default">{t('skipped.tag')}</Tag>,
          },
          {
            title: t('machines.skippedRaw'),
            dataIndex: 'raw_bytes',
            render: (v: number) => <Bytes value={v} />,
          },
          {
            title: t('machines.skippedBy'),
            dataIndex: 'switches',
            render: (v: string[]) => (v.length ? v.map((s) => switchName(s, t)).join('、') : t('skipped.switch.unknown')),
          },
          { title: t('machines.skippedAt'), dataIndex: 'decided_at', render: formatTime },
        ]}
        pagination={
          (data?.total ?? 0) > SKIPPED_PAGE
            ? { current: page, pageSize: SKIPPED_PAGE, total: data?.total ?? 0, showTotal: (n) => t('common.total', { n }), onChange: setPage }
            : false
        }
      />
    </>
  );
}

export default function MachineDrawer({ machineId, onClose }: { machineId: number; onClose: () => void }) {
  const { t } = useI18n();
  const { data: m, error, loading, reload } = useApi(() => api.machine(machineId), [machineId]);
  const history = useApi(() => api.history({ machine_id: machineId, page_size: 10 }), [machineId]);
  return (
    <Drawer open size={900} title={m ? `${m.hostname} · ${m.mac}` : t('common.loading')} onClose={onClose} data-testid="machine-drawer">
      {error ? (
        <LoadError error={error} onRetry={reload} />
      ) : loading || !m ? (
        <Skeleton active />
      ) : (
        <>
          <HealthAlerts health={m.health} t={t} />
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
            <Descriptions.Item label={t('offsets.effective')} span={2}>
              <EffectiveOffsetView e={m.effective_offset} t={t} testId="drawer-effective-offset" />
            </Descriptions.Item>
            <Descriptions.Item label={t('machines.reportTimezone')} span={2}>
              {m.report_timezone ?? '-'}
              {m.timezone_mismatch && (
                <Tag color="error" style={{ marginLeft: 8 }}>
                  {t('machines.timezoneMismatch')}
                </Tag>
              )}
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
            <MacHistory machineId={m.id} currentMac={m.mac} />
          </Card>
          <Card title={t('machines.traffic7d')} size="small" style={{ marginTop: 16 }} data-testid="week-traffic">
            <WeekTraffic machineId={m.id} />
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
                    render: (_, r) => <Bytes value={r.pushed_bytes} extra={<><br />{t('history.raw')}: {r.raw_bytes.toLocaleString('en-US')} · {percent(r.offset_bp)} · {fixedText(r.offset_fixed_bytes ?? 0)}/{t('offsets.perPoint')}</>} />,
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
          <Card title={t('machines.skippedHours')} size="small" style={{ marginTop: 16 }} data-testid="skipped-card">
            <SkippedHours machineId={m.id} />
          </Card>
          <Card title={t('machines.verifications')} size="small" style={{ marginTop: 16 }}>
            <VerificationsTable machineId={m.id} />
          </Card>
        </>
      )}
    </Drawer>
  );
}
