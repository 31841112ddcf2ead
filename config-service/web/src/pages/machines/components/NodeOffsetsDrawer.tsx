import { useState } from 'react';
import { Alert, Button, Drawer, Form, InputNumber, Modal, Table, Typography } from 'antd';
import { api, type NodeOffsets } from '../../../api/client';
import { errorMessage } from '../../../api/errors';
import { formatTime, percent } from '../../../components/format';
import LoadError from '../../../components/LoadError';
import { EffectiveOffsetView, FixedOffsetItem, fixedFromForm, fixedText, fixedToForm, type FixedValues } from '../../../components/offsets';
import { useApi } from '../../../components/useApi';
import { useI18n } from '../../../i18n';
import { offsetRule } from '../../push-config/components/PushConfigForm';

interface Values extends FixedValues {
  offset_percent: number | null;
}

/// One node's offsets; empty = not set at the node (the global value applies).
function EditNodeModal({ node, onClose, onSaved }: { node: NodeOffsets; onClose: () => void; onSaved: () => void }) {
  const { t } = useI18n();
  const [form] = Form.useForm<Values>();
  const [refusal, setRefusal] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const save = async () => {
    const v = await form.validateFields();
    setSaving(true);
    setRefusal(null);
    try {
      await api.setNodeOffsets(node.node, {
        offset_bp: v.offset_percent === null || v.offset_percent === undefined ? null : Math.round(v.offset_percent * 100),
        offset_fixed_bytes: fixedFromForm(v),
      });
      onSaved();
    } catch (e) {
      setRefusal(errorMessage(e, t));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal
      open
      title={t('offsets.editNode', { node: node.node })}
      onOk={save}
      onCancel={onClose}
      confirmLoading={saving}
      okText={t('common.save')}
      cancelText={t('common.cancel')}
      destroyOnHidden
    >
      {refusal && <Alert type="error" showIcon title={refusal} style={{ marginBottom: 16 }} data-testid="node-form-refusal" />}
      <Form
        form={form}
        layout="vertical"
        initialValues={{ offset_percent: node.offset_bp === null ? null : node.offset_bp / 100, ...fixedToForm(node.offset_fixed_bytes) }}
      >
        <Form.Item name="offset_percent" label={t('machines.offset')} rules={[offsetRule(t('push.offsetInvalid'))]} extra={t('push.offsetHelp')}>
          <InputNumber precision={2} step={0.5} style={{ width: '100%' }} placeholder={t('common.inherit')} id="node_offset" />
        </Form.Item>
        <FixedOffsetItem t={t} placeholder={t('common.inherit')} testId="node-fixed" />
      </Form>
    </Modal>
  );
}

/// Every node with the offsets set at it and what its machines get when they set nothing.
export default function NodeOffsetsDrawer({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const { data, error, loading, reload } = useApi(() => api.nodes(), []);
  const [editing, setEditing] = useState<NodeOffsets | null>(null);
  const notSet = <Typography.Text type="secondary">{t('offsets.notSet')}</Typography.Text>;
  return (
    <Drawer open size={900} title={t('offsets.nodes')} onClose={onClose} data-testid="node-offsets">
      <Typography.Paragraph type="secondary">{t('offsets.nodesHelp')}</Typography.Paragraph>
      {error ? (
        <LoadError error={error} onRetry={reload} />
      ) : (
        <Table<NodeOffsets>
          rowKey="node"
          size="small"
          loading={loading}
          dataSource={data?.items ?? []}
          locale={{ emptyText: t('common.empty') }}
          pagination={false}
          columns={[
            { title: t('offsets.node'), dataIndex: 'node' },
            { title: t('offsets.machines'), dataIndex: 'machines', width: 80, align: 'right' as const },
            { title: t('offsets.percent'), dataIndex: 'offset_bp', width: 90, render: (v: number | null) => (v === null ? notSet : percent(v)) },
            {
              title: t('offsets.fixed'),
              dataIndex: 'offset_fixed_bytes',
              width: 150,
              render: (v: number | null) => (v === null ? notSet : `${fixedText(v)}/${t('offsets.perPoint')}`),
            },
            {
              title: t('offsets.effective'),
              render: (_: unknown, n: NodeOffsets) => <EffectiveOffsetView e={n.effective_offset} t={t} testId={`node-effective-${n.node}`} />,
            },
            {
              title: t('offsets.updated'),
              dataIndex: 'updated_at',
              width: 170,
              render: (v: number | null, n: NodeOffsets) => (v === null ? '-' : `${formatTime(v)} ${n.updated_by ?? ''}`),
            },
            {
              title: t('common.actions'),
              width: 80,
              render: (_: unknown, n: NodeOffsets) => (
                <Button size="small" onClick={() => setEditing(n)} data-testid={`node-edit-${n.node}`}>
                  {t('machines.edit')}
                </Button>
              ),
            },
          ]}
        />
      )}
      {editing && (
        <EditNodeModal
          node={editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
    </Drawer>
  );
}
