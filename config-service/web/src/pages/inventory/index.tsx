import { useState } from 'react';
import { Alert, App, Button, Card, Descriptions, Input, Space, Table, Tabs, Tag, Tooltip, Typography } from 'antd';
import { LinkOutlined, SyncOutlined } from '@ant-design/icons';
import { api, type InventoryHost, type InventoryRun, type UnmatchedMachine } from '../../api/client';
import { errorMessage } from '../../api/errors';
import { formatTime } from '../../components/format';
import LoadError from '../../components/LoadError';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';
import CsvImport from './components/CsvImport';
import LinkModal from './components/LinkModal';

/// 资产同步: host names and nodes from the ops platform (Spug) or a CSV file; what did not
/// pair, and the operator's links.
export default function InventoryPage() {
  const { t } = useI18n();
  const { message, modal } = App.useApp();
  const state = useApi(() => api.inventory(), []);
  const [tab, setTab] = useState<'hosts' | 'machines' | 'all'>('hosts');
  const [search, setSearch] = useState('');
  const [page, setPage] = useState({ page: 1, page_size: 20 });
  const [linking, setLinking] = useState<InventoryHost | null>(null);
  const [syncing, setSyncing] = useState(false);
  const hosts = useApi(
    () => (tab === 'machines' ? Promise.resolve(undefined) : api.inventoryHosts({ matched: tab === 'hosts' ? false : undefined, q: search, ...page })),
    [tab, search, page.page, page.page_size],
  );
  const machines = useApi(() => (tab === 'machines' ? api.unmatchedMachines(page.page, page.page_size) : Promise.resolve(undefined)), [tab, page.page, page.page_size]);
  const reloadAll = () => {
    state.reload();
    hosts.reload();
    machines.reload();
  };

  const syncNow = async () => {
    setSyncing(true);
    try {
      const r = await api.syncInventory();
      if (r.ok) message.success(t('inventory.synced', { hosts: r.hosts, matched: r.matched, changed: r.changed }));
      else modal.error({ title: t('inventory.syncFailed'), content: r.error });
      reloadAll();
    } catch (e) {
      message.error(errorMessage(e, t));
    } finally {
      setSyncing(false);
    }
  };
  const unlink = (h: InventoryHost) =>
    modal.confirm({
      title: t('inventory.unlinkConfirm', { host: h.name }),
      okText: t('common.ok'),
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await api.linkInventoryHost(h.source, h.host_key, null);
          reloadAll();
        } catch (e) {
          message.error(errorMessage(e, t));
        }
      },
    });

  if (state.error) return <LoadError error={state.error} onRetry={state.reload} />;
  const s = state.data;
  const runLine = (run: InventoryRun) => (
    <Space direction="vertical" size={4} style={{ width: '100%' }} key={run.source}>
      <Space wrap>
        <Tag>{run.source === 'spug' ? 'Spug' : 'CSV'}</Tag>
        {run.ok ? <Tag color="success">{t('inventory.ok')}</Tag> : <Tag color="error">{t('inventory.failed')}</Tag>}
        <span>{t('inventory.lastRun', { at: formatTime(run.finished_at) })}</span>
        <span>{t('inventory.counts', { hosts: run.hosts, matched: run.matched, changed: run.changed })}</span>
        {!run.ok && <span>{t('inventory.lastOk', { at: run.last_ok_at ? formatTime(run.last_ok_at) : '—' })}</span>}
      </Space>
      {!run.ok && (
        <Alert type="error" showIcon data-testid="inventory-error" title={t(`inventory.error.${run.error_code ?? 'settings'}` as never)} description={run.error} />
      )}
    </Space>
  );

  const hostColumns = [
    { title: t('inventory.name'), dataIndex: 'name', width: 180 },
    { title: t('inventory.source'), dataIndex: 'source', width: 80 },
    { title: t('inventory.opsId'), dataIndex: 'ops_host_id', width: 90, render: (v: string | null) => v ?? '—' },
    {
      title: t('inventory.addresses'),
      render: (_: unknown, h: InventoryHost) => [h.management_ip, ...h.other_ips, h.mac].filter(Boolean).join(' '),
    },
    {
      title: t('inventory.node'),
      width: 180,
      render: (_: unknown, h: InventoryHost) => (
        <Space size={4}>
          {h.node ?? '—'}
          {h.note && (
            <Tooltip title={h.note}>
              <Tag color="warning">{t('inventory.noted')}</Tag>
            </Tooltip>
          )}
        </Space>
      ),
    },
    {
      title: t('inventory.pairing'),
      width: 260,
      render: (_: unknown, h: InventoryHost) =>
        h.machine_id === null ? (
          <Typography.Text type="secondary">{h.unmatched_reason}</Typography.Text>
        ) : (
          <Space size={4}>
            <Tag color={h.matched_by === 'manual' ? 'purple' : 'blue'}>{t(`inventory.by.${h.matched_by ?? 'manual'}` as never)}</Tag>
            <span>#{h.machine_id}</span>
          </Space>
        ),
    },
    {
      title: t('inventory.action'),
      width: 110,
      render: (_: unknown, h: InventoryHost) =>
        h.matched_by === 'manual' ? (
          <Button size="small" onClick={() => unlink(h)}>
            {t('inventory.unlink')}
          </Button>
        ) : h.machine_id === null ? (
          <Button size="small" type="primary" icon={<LinkOutlined />} onClick={() => setLinking(h)} data-testid={`link-${h.host_key}`}>
            {t('inventory.link')}
          </Button>
        ) : null,
    },
  ];
  const machineColumns = [
    { title: t('machines.hostname'), dataIndex: 'hostname', width: 180 },
    { title: 'MAC', dataIndex: 'mac', width: 170 },
    { title: t('inventory.addresses'), dataIndex: 'ips', render: (ips: string[]) => ips.join(' ') },
    { title: t('inventory.node'), dataIndex: 'node', width: 160, render: (v: string | null) => v ?? '—' },
    { title: t('inventory.lastSeen'), dataIndex: 'last_seen_at', width: 180, render: formatTime },
  ];
  const pagination = (total: number) => ({
    current: page.page,
    pageSize: page.page_size,
    total,
    showTotal: (n: number) => t('common.total', { n }),
    onChange: (p: number, size: number) => setPage({ page: p, page_size: size }),
  });

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Card
        title={t('inventory.title')}
        loading={state.loading && !s}
        extra={
          <Space>
            {s?.configured && (
              <Button icon={<SyncOutlined />} loading={syncing} onClick={syncNow} data-testid="inventory-sync">
                {t('inventory.syncNow')}
              </Button>
            )}
            <CsvImport onImported={reloadAll} />
          </Space>
        }
      >
        <Descriptions size="small" column={{ xs: 1, md: 3 }}>
          <Descriptions.Item label={t('inventory.platform')}>
            {s?.configured ? `Spug · ${s.configured.url} · ${s.configured.username}` : t('inventory.notConfigured')}
          </Descriptions.Item>
          {s?.configured && (
            <Descriptions.Item label={t('inventory.nodeFrom')}>
              {t(s.configured.node_from === 'path' ? 'inventory.nodeFromPath' : 'inventory.nodeFromLeaf')} · {t('inventory.every', { n: Math.round(s.configured.interval_secs / 60) })}
            </Descriptions.Item>
          )}
          <Descriptions.Item label={t('inventory.summary')}>
            <span data-testid="inventory-summary">
              {t('inventory.summaryText', { hosts: s?.hosts ?? 0, hostsOff: s?.unmatched_hosts ?? 0, machinesOff: s?.unmatched_machines ?? 0 })}
            </span>
          </Descriptions.Item>
        </Descriptions>
        {(s?.runs ?? []).map(runLine)}
        <Typography.Paragraph type="secondary" style={{ marginTop: 12, marginBottom: 0 }}>
          {t('inventory.csvHelp')}
        </Typography.Paragraph>
      </Card>
      <Card>
        <Tabs
          activeKey={tab}
          onChange={(k) => {
            setTab(k as typeof tab);
            setPage({ page: 1, page_size: page.page_size });
          }}
          tabBarExtraContent={
            tab !== 'machines' && (
              <Input.Search allowClear placeholder={t('inventory.search')} onSearch={(v) => setSearch(v.trim())} style={{ width: 260 }} />
            )
          }
          items={[
            { key: 'hosts', label: t('inventory.tabUnmatchedHosts', { n: s?.unmatched_hosts ?? 0 }) },
            { key: 'machines', label: t('inventory.tabUnmatchedMachines', { n: s?.unmatched_machines ?? 0 }) },
            { key: 'all', label: t('inventory.tabAll', { n: s?.hosts ?? 0 }) },
          ]}
        />
        {hosts.error || machines.error ? (
          <LoadError error={hosts.error ?? machines.error} onRetry={reloadAll} />
        ) : tab === 'machines' ? (
          <Table<UnmatchedMachine>
            rowKey="id"
            size="middle"
            loading={machines.loading}
            dataSource={machines.data?.items ?? []}
            columns={machineColumns}
            locale={{ emptyText: t('common.empty') }}
            pagination={pagination(machines.data?.total ?? 0)}
          />
        ) : (
          <Table<InventoryHost>
            rowKey={(h) => `${h.source}:${h.host_key}`}
            size="middle"
            loading={hosts.loading}
            dataSource={hosts.data?.items ?? []}
            columns={hostColumns}
            locale={{ emptyText: t('common.empty') }}
            pagination={pagination(hosts.data?.total ?? 0)}
            data-testid="inventory-hosts"
          />
        )}
      </Card>
      {linking && (
        <LinkModal
          host={linking}
          onClose={(changed) => {
            setLinking(null);
            if (changed) reloadAll();
          }}
        />
      )}
    </Space>
  );
}
