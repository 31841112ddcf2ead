import { Card, Col, Row, Skeleton, Statistic, Table, Typography } from 'antd';
import { api, type FleetHour, type VersionCount } from '../../api/client';
import BarChart from '../../components/BarChart';
import Bytes from '../../components/Bytes';
import { formatHour, humanBytes } from '../../components/format';
import LoadError from '../../components/LoadError';
import { useApi } from '../../components/useApi';
import { useI18n, type Translate } from '../../i18n';

/// One bar per closed report hour, as the service computed it (every hour present).
function trafficBars(hours: FleetHour[], t: Translate) {
  return hours.map((h) => ({
    id: h.flux_hour,
    label: `${h.flux_hour.slice(8, 10)}:00`,
    value: h.pushed_bytes,
    tip: (
      <span>
        {formatHour(h.flux_hour)}
        <br />
        {t('overview.tipPushed', { v: humanBytes(h.pushed_bytes), n: h.pushed_bytes.toLocaleString('en-US') })}
        <br />
        {t('overview.tipRaw', { v: humanBytes(h.raw_bytes) })}
        <br />
        {t('overview.tipMacs', { n: h.macs })}
      </span>
    ),
  }));
}

export default function OverviewPage() {
  const { t } = useI18n();
  const { data, error, loading, reload } = useApi(() => api.overview(), []);
  if (error) return <LoadError error={error} onRetry={reload} />;
  if (loading && !data) return <Skeleton active paragraph={{ rows: 8 }} />;
  if (!data) return null;
  const traffic = data.traffic_24h;
  const pushed = traffic.hours.reduce((sum, h) => sum + h.pushed_bytes, 0);
  const raw = traffic.hours.reduce((sum, h) => sum + h.raw_bytes, 0);
  const pushes = data.pushes_24h;
  const stat = (title: string, value: number, testid: string, color?: string) => (
    <Col xs={12} md={8} xl={4}>
      <Card size="small" data-testid={testid}>
        <Statistic title={title} value={value} styles={color ? { content: { color } } : undefined} />
      </Card>
    </Col>
  );
  return (
    <div>
      <Row gutter={[16, 16]}>
        {stat(t('overview.deployed'), data.deployed, 'stat-deployed')}
        {stat(t('overview.online'), data.online, 'stat-online', '#3f8600')}
        {stat(t('overview.offline'), data.offline, 'stat-offline', data.offline ? '#cf1322' : undefined)}
        {stat(t('overview.switchedOff'), data.switched_off, 'stat-off')}
        {stat(t('overview.underAcceptance'), data.under_acceptance, 'stat-acceptance')}
        {stat(t('overview.openIncidents'), data.open_incidents, 'stat-incidents', data.open_incidents ? '#cf1322' : undefined)}
      </Row>
      <Row gutter={[16, 16]} style={{ marginTop: 16 }}>
        <Col xs={24} xl={16}>
          <Card
            title={t('overview.traffic')}
            size="small"
            data-testid="fleet-traffic"
            extra={
              <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                {t('overview.trafficWindow', { from: formatHour(traffic.from_hour), to: formatHour(traffic.to_hour), tz: traffic.report_timezone })}
              </Typography.Text>
            }
          >
            <BarChart bars={trafficBars(traffic.hours, t)} height={240} format={humanBytes} labelEvery={3} />
            <div style={{ marginTop: 8 }} data-testid="traffic-total">
              <Typography.Text type="secondary">
                {t('overview.trafficTotal')}: <Bytes value={pushed} /> · {t('overview.tipRaw', { v: humanBytes(raw) })}
              </Typography.Text>
            </div>
          </Card>
        </Col>
        <Col xs={24} xl={8}>
          <Card title={t('overview.pushes24h')} size="small" data-testid="pushes-24h">
            <Row>
              <Col span={6} data-testid="push-ok">
                <Statistic title={t('overview.pushOk')} value={pushes.success} styles={{ content: { color: '#3f8600' } }} />
              </Col>
              <Col span={6} data-testid="push-failed">
                <Statistic title={t('overview.pushFailed')} value={pushes.failure} styles={{ content: { color: pushes.failure ? '#cf1322' : undefined } }} />
              </Col>
              <Col span={6} data-testid="push-held">
                <Statistic title={t('overview.held')} value={pushes.held} styles={{ content: { color: pushes.held ? '#d48806' : undefined } }} />
              </Col>
              <Col span={6} data-testid="push-skipped">
                <Statistic title={t('overview.skipped')} value={pushes.skipped} styles={{ content: { color: pushes.skipped ? '#8c8c8c' : undefined } }} />
              </Col>
            </Row>
            <Typography.Text type="secondary" style={{ fontSize: 12 }}>
              {t('overview.pushesNote')}
            </Typography.Text>
          </Card>
          <Card title={t('overview.byVersion')} size="small" style={{ marginTop: 16 }}>
            <Table<VersionCount>
              size="small"
              data-testid="versions"
              pagination={false}
              rowKey="version"
              dataSource={data.agents_by_version}
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
