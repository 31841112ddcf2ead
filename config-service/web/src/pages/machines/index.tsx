import { useState } from 'react';
import { App, Button, Card, Form, Input, Select, Space, Switch, Table, Tag, Tooltip, Typography } from 'antd';
import { WarningOutlined } from '@ant-design/icons';
import { api, type Machine, type MachineQuery } from '../../api/client';
import { errorMessage } from '../../api/errors';
import { formatHour, formatTime } from '../../components/format';
import FilterButtons from '../../components/FilterButtons';
import LoadError from '../../components/LoadError';
import { EffectiveOffsetView } from '../../components/offsets';
import { useApi } from '../../components/useApi';
import { useI18n } from '../../i18n';
import { HealthTags, healthProblems } from './components/AgentHealth';
import BulkBar from './components/BulkBar';
import EditMachineModal from './components/EditMachineModal';
import MachineDrawer from './components/MachineDrawer';
import NodeOffsetsDrawer from './components/NodeOffsetsDrawer';

interface FilterForm {
  q?: string;
  node?: string;
  state?: 'online' | 'offline';
  push?: 'on' | 'off';
  version?: string;
}

export default function MachinesPage() {
  const { t } = useI18n();
  const { modal, message } = App.useApp();
  const [filter, setFilter] = useState<MachineQuery>({});
  const [page, setPage] = useState({ page: 1, page_size: 20 });
  const [selected, setSelected] = useState<number[]>([]);
  const [editing, setEditing] = useState<Machine | null>(null);
  const [detail, setDetail] = useState<number | null>(null);
  const [nodesOpen, setNodesOpen] = useState(false);
  const query = { ...filter, ...page };
  const { data, error, loading, reload } = useApi(() => api.machines(query), [JSON.stringify(query)]);
  const [form] = Form.useForm<FilterForm>();
  // Every filter is applied by the service; the versions offered are the fleet's.
  const rows = data?.items ?? [];
  const fleetVersions = useApi(() => api.agentVersions(), []);
  const versions = (fleetVersions.data ?? []).map((v) => v.version);

  const switchPush = (m: Machine, on: boolean) =>
    modal.confirm({
      title: on ? t('machines.switchOnConfirm', { host: m.hostname }) : t('machines.switchOffConfirm', { host: m.hostname }),
      okText: t('common.ok'),
      cancelText: t('common.cancel'),
      okButtonProps: { danger: !on },
      onOk: async () => {
        try {
          await api.updateMachine(m.id, { push_enabled: on });
          message.success(t('common.saved'));
          reload();
        } catch (e) {
          message.error(errorMessage(e, t));
        }
      },
    });

  const columns = [
    {
      title: t('machines.hostname'),
      dataIndex: 'hostname',
      width: 140,
      render: (v: string, m: Machine) => (
        <div>
          <Button type="link" style={{ padding: 0, height: 'auto' }} onClick={() => setDetail(m.id)}>
            {v}
          </Button>
          {/* Flags go under the name: the column stays narrow. */}
          {(m.timezone_mismatch || m.duplicate_of !== null || healthProblems(m.health, t).length > 0) && (
            <Space size={4} wrap style={{ display: 'flex' }}>
              <HealthTags id={m.id} health={m.health} t={t} />
              {m.timezone_mismatch && (
                <Tooltip title={t('machines.timezoneMismatchHint', { tz: m.report_timezone ?? '' })}>
                  <Tag color="error" data-testid={`tz-mismatch-${m.id}`}>{t('machines.timezoneMismatch')}</Tag>
                </Tooltip>
              )}
              {m.duplicate_of !== null && (
                <Tooltip title={t('machines.duplicateOf', { id: m.duplicate_of })}>
                  <Tag color="error" data-testid={`duplicate-${m.id}`}>{t('machines.duplicate')}</Tag>
                </Tooltip>
              )}
            </Space>
          )}
        </div>
      ),
    },
    { title: t('machines.mac'), dataIndex: 'mac', width: 170, render: (v: string) => <span style={{ fontFamily: 'monospace', whiteSpace: 'nowrap' }}>{v}</span> },
    { title: t('machines.node'), dataIndex: ['config', 'node'], width: 90, render: (v: string | null) => v ?? '-' },
    {
      title: t('machines.state'),
      dataIndex: 'state',
      width: 80,
      render: (v: Machine['state'], m: Machine) => (
        <Tooltip title={`${t('machines.lastSeen')}: ${formatTime(m.last_seen_at)}`}>
          <Tag color={v === 'online' ? 'success' : 'error'}>{t(`machines.state.${v}`)}</Tag>
        </Tooltip>
      ),
    },
    { title: t('machines.version'), dataIndex: 'agent_version', width: 80 },
    {
      title: t('machines.push'),
      dataIndex: ['config', 'push_enabled'],
      width: 80,
      render: (on: boolean, m: Machine) => (
        <Switch
          checked={on}
          size="small"
          onChange={(next) => switchPush(m, next)}
          data-testid={`push-switch-${m.id}`}
          checkedChildren={t('common.on')}
          unCheckedChildren={t('common.off')}
        />
      ),
    },
    {
      title: t('machines.acceptance'),
      dataIndex: ['config', 'acceptance'],
      width: 140,
      render: (v: Machine['config']['acceptance']) => (
        <Tag color={v === 'accepted' ? 'default' : 'processing'}>{t(`machines.acceptance.${v}`)}</Tag>
      ),
    },
    {
      title: t('machines.interface'),
      dataIndex: 'chosen_interface',
      width: 180,
      render: (v: string | null, m: Machine) => (
        <Space size={4} style={{ whiteSpace: 'nowrap' }}>
          <span>{m.config.interface ?? v ?? '-'}</span>
          {m.config.interface === null && <Typography.Text type="secondary">({t('common.auto')})</Typography.Text>}
          {m.ambiguous && (
            <Tooltip title={t('machines.ambiguous')}>
              <Tag color="warning" icon={<WarningOutlined />} />
            </Tooltip>
          )}
        </Space>
      ),
    },
    {
      title: t('offsets.effective'),
      dataIndex: 'effective_offset',
      width: 250,
      render: (e: Machine['effective_offset'], m: Machine) => <EffectiveOffsetView e={e} t={t} testId={`effective-offset-${m.id}`} />,
    },
    {
      title: t('machines.lastPush'),
      dataIndex: 'last_push',
      width: 190,
      render: (p: Machine['last_push']) =>
        p ? (
          <Tooltip title={`${formatTime(p.attempted_at)} ${p.message ?? ''}`}>
            <Tag color={p.status === 'success' ? 'success' : 'error'}>
              {formatHour(p.flux_hour)} {t(`history.status.${p.status}`)}
            </Tag>
          </Tooltip>
        ) : (
          '-'
        ),
    },
    {
      title: t('machines.backlog'),
      width: 100,
      render: (_: unknown, m: Machine) => (
        <Tooltip title={t('machines.backlogValue', { o: m.backlog_outbox_hours, h: m.backlog_history_items, held: m.backlog_held_hours })}>
          <span style={{ color: m.backlog_held_hours ? '#d48806' : undefined }}>
            {m.backlog_outbox_hours} / {m.backlog_history_items} / {m.backlog_held_hours}
          </span>
        </Tooltip>
      ),
    },
    {
      title: t('common.actions'),
      fixed: 'right' as const,
      width: 140,
      render: (_: unknown, m: Machine) => (
        <Space>
          <Button size="small" onClick={() => setEditing(m)} data-testid={`edit-${m.id}`}>
            {t('machines.edit')}
          </Button>
          <Button size="small" type="link" onClick={() => setDetail(m.id)}>
            {t('common.detail')}
          </Button>
        </Space>
      ),
    },
  ];

  return (
    <Card>
      <Form
        form={form}
        layout="inline"
        style={{ marginBottom: 16, rowGap: 8 }}
        onFinish={(v: FilterForm) => {
          setFilter({
            q: v.q?.trim() || undefined,
            node: v.node?.trim() || undefined,
            state: v.state,
            push_enabled: v.push === undefined ? undefined : v.push === 'on',
            version: v.version,
          });
          setPage((p) => ({ ...p, page: 1 }));
        }}
      >
        <Form.Item name="q">
          <Input.Search placeholder={t('machines.search')} allowClear style={{ width: 240 }} onSearch={() => form.submit()} />
        </Form.Item>
        <Form.Item name="node">
          <Input placeholder={t('machines.node')} allowClear style={{ width: 120 }} />
        </Form.Item>
        <Form.Item name="state">
          <Select
            placeholder={t('machines.state')}
            allowClear
            style={{ width: 110 }}
            options={[
              { value: 'online', label: t('machines.state.online') },
              { value: 'offline', label: t('machines.state.offline') },
            ]}
          />
        </Form.Item>
        <Form.Item name="push">
          <Select
            placeholder={t('machines.push')}
            allowClear
            style={{ width: 100 }}
            options={[
              { value: 'on', label: t('common.on') },
              { value: 'off', label: t('common.off') },
            ]}
          />
        </Form.Item>
        <Form.Item name="version">
          <Select
            placeholder={t('machines.version')}
            allowClear
            style={{ width: 120 }}
            data-testid="version-filter"
            options={versions.map((v) => ({ value: v, label: v }))}
          />
        </Form.Item>
        <FilterButtons onReset={() => setFilter({})} />
        <Form.Item>
          <Button onClick={() => setNodesOpen(true)} data-testid="node-offsets-open">
            {t('offsets.nodes')}
          </Button>
        </Form.Item>
      </Form>
      <BulkBar
        ids={selected}
        onDone={() => {
          setSelected([]);
          reload();
        }}
      />
      {error ? (
        <LoadError error={error} onRetry={reload} />
      ) : (
        <Table<Machine>
          rowKey="id"
          size="middle"
          loading={loading}
          columns={columns}
          dataSource={rows}
          scroll={{ x: 1640 }}
          rowSelection={{ selectedRowKeys: selected, onChange: (keys) => setSelected(keys as number[]) }}
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
      {editing && (
        <EditMachineModal
          machine={editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            message.success(t('common.saved'));
            reload();
          }}
        />
      )}
      {detail !== null && <MachineDrawer machineId={detail} onClose={() => setDetail(null)} />}
      {nodesOpen && (
        <NodeOffsetsDrawer
          onClose={() => {
            setNodesOpen(false);
            reload();
          }}
        />
      )}
    </Card>
  );
}
