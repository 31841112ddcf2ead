import { Card, Col, Row, Skeleton, Statistic, Table, Typography } from 'antd';
import { api, type HistoryRow } from '../../api/client';
import BarChart from '../../components/BarChart';
import { humanBytes, reportHour } from '../../components/format';
import LoadError from '../../components/LoadError';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';

const SAMPLE = 500;

/// Pushed bytes per report hour over the last 24 hours (the newest version of each
/// machine-hour counts once).
function hourlyTraffic(rows: HistoryRow[]) {
  const newest = new Map<string, HistoryRow>();
  for (const row of rows) {
    const key = `${row.mac}/${row.flux_hour}`;
    const seen = newest.get(key);
    if (!seen || seen.version < row.version) newest.set(key, row);
  }
  const perHour = new Map<string, number>();
  for (let ago = 24; ago >= 1; ago--) perHour.set(reportHour(ago), 0);
  for (const row of newest.values()) {
    if (perHour.has(row.flux_hour)) perHour.set(row.flux_hour, (perHour.get(row.flux_hour) ?? 0) + row.pushed_bytes);
  }
  return [...perHour.entries()].map(([hour, value]) => ({ label: `${hour.slice(8, 10)}:00`, value, tip: `${hour.slice(0, 4)}-${hour.slice(4, 6)}-${hour.slice(6, 8)} ${hour.slice(8, 10)}:00 ${humanBytes(value)}` }));
}

export default function OverviewPage() {
  const { t } = useI18n();
  const { data, error, loading, reload } = useApi(async () => {
    const from_hour = reportHour(24);
    const [overview, switchedOff, sample, ok, failed, traffic] = await Promise.all([
      api.overview(),
      api.machines({ push_enabled: false, page_size: 1 }),
      api.machines({ page_size: SAMPLE }),
      api.history({ status: 'success', from_hour, page_size: 1 }),
      api.history({ status: 'failure', from_hour, page_size: 1 }),
      api.history({ status: 'success', from_hour, page_size: SAMPLE, sort: 'flux_hour' }),
    ]);
    return { overview, switchedOff, sample, ok, failed, traffic };
  }, []);
  if (error) return <LoadError error={error} onRetry={reload} />;
  if (loading && !data) return <Skeleton active paragraph={{ rows: 8 }} />;
  if (!data) return null;
  const { overview, switchedOff, sample, ok, failed, traffic } = data;
  const versions = new Map<string, number>();
  let underAcceptance = 0;
  let held = 0;
  for (const m of sample.items) {
    versions.set(m.agent_version, (versions.get(m.agent_version) ?? 0) + 1);
    if (m.config.acceptance === 'under_acceptance') underAcceptance += 1;
    held += m.backlog_held_hours;
  }
  const partial = sample.total > sample.items.length;
  const note = partial ? (
    <Typography.Text type="secondary" style={{ fontSize: 12 }}>
      {t('overview.sampleNote', { n: sample.items.length })}
    </Typography.Text>
  ) : null;
  const stat = (title: string, value: number, color?: string, testid?: string) => (
    <Col xs={12} md={8} xl={4}>
      <Card size="small" data-testid={testid}>
        <Statistic title={title} value={value} styles={color ? { content: { color } } : undefined} />
      </Card>
    </Col>
  );
  return (
    <div>
      <Row gutter={[16, 16]}>
        {stat(t('overview.deployed'), overview.deployed, undefined, 'stat-deployed')}
        {stat(t('overview.online'), overview.online, '#3f8600', 'stat-online')}
        {stat(t('overview.offline'), overview.offline, overview.offline ? '#cf1322' : undefined, 'stat-offline')}
        {stat(t('overview.switchedOff'), switchedOff.total, undefined, 'stat-off')}
        {stat(t('overview.underAcceptance'), underAcceptance)}
        {stat(t('overview.openIncidents'), overview.open_incidents, overview.open_incidents ? '#cf1322' : undefined)}
      </Row>
      <Row gutter={[16, 16]} style={{ marginTop: 16 }}>
        <Col xs={24} xl={16}>
          <Card title={t('overview.traffic')} size="small" extra={traffic.total > traffic.items.length ? (
            <Typography.Text type="secondary" style={{ fontSize: 12 }}>{t('overview.historyNote', { n: traffic.items.length })}</Typography.Text>
          ) : null}>
            <BarChart bars={hourlyTraffic(traffic.items)} height={240} format={humanBytes} labelEvery={3} />
          </Card>
        </Col>
        <Col xs={24} xl={8}>
          <Card title={t('overview.pushes24h')} size="small">
            <Row>
              <Col span={8}><Statistic title={t('overview.pushOk')} value={ok.total} styles={{ content: { color: '#3f8600' } }} /></Col>
              <Col span={8}><Statistic title={t('overview.pushFailed')} value={failed.total} styles={{ content: { color: failed.total ? '#cf1322' : undefined } }} /></Col>
              <Col span={8}><Statistic title={t('overview.held')} value={held} styles={{ content: { color: held ? '#d48806' : undefined } }} /></Col>
            </Row>
          </Card>
          <Card title={t('overview.byVersion')} size="small" style={{ marginTop: 16 }} extra={note}>
            <Table
              size="small"
              pagination={false}
              rowKey="version"
              dataSource={[...versions.entries()].sort((a, b) => b[1] - a[1]).map(([version, count]) => ({ version, count }))}
              columns={[
                { title: t('overview.version'), dataIndex: 'version' },
                { title: t('overview.count'), dataIndex: 'count', align: 'right' },
              ]}
              locale={{ emptyText: t('common.empty') }}
            />
          </Card>
        </Col>
      </Row>
    </div>
  );
}
