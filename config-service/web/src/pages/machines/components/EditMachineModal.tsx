import { useState } from 'react';
import { Alert, Form, Input, InputNumber, Modal, Select, Tag } from 'antd';
import { api, type ConfigPatch, type Machine } from '../../../api/client';
import { errorMessage } from '../../../api/errors';
import { useI18n } from '../../../i18n';
import { FixedOffsetItem, fixedFromForm, fixedToForm, type FixedValues, EffectiveOffsetView } from '../../../components/offsets';
import { offsetRule } from '../../push-config/components/PushConfigForm';

interface Values extends FixedValues {
  acceptance: Machine['config']['acceptance'];
  interface: string;
  offset_percent: number | null;
  node: string;
  isp_id: number | null;
  device_type: number | null;
}

const AUTO = '__auto__';

/// The per-machine config (not the push switch, which has its own confirmation).
export default function EditMachineModal({ machine, onClose, onSaved }: { machine: Machine; onClose: () => void; onSaved: () => void }) {
  const { t } = useI18n();
  const [form] = Form.useForm<Values>();
  const [refusal, setRefusal] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const c = machine.config;
  const save = async () => {
    const v = await form.validateFields();
    const patch: ConfigPatch = {
      acceptance: v.acceptance,
      interface: v.interface === AUTO ? null : v.interface,
      offset_bp: v.offset_percent === null || v.offset_percent === undefined ? null : Math.round(v.offset_percent * 100),
      offset_fixed_bytes: fixedFromForm(v),
      node: v.node?.trim() ? v.node.trim() : null,
      isp_id: v.isp_id ?? null,
      device_type: v.device_type ?? null,
    };
    setSaving(true);
    setRefusal(null);
    try {
      await api.updateMachine(machine.id, patch);
      onSaved();
    } catch (e) {
      setRefusal(errorMessage(e, t));
    } finally {
      setSaving(false);
    }
  };
  const interfaces = machine.interfaces ?? [];
  return (
    <Modal
      open
      title={t('machines.editTitle', { host: machine.hostname })}
      onOk={save}
      onCancel={onClose}
      confirmLoading={saving}
      okText={t('common.save')}
      cancelText={t('common.cancel')}
      destroyOnHidden
    >
      {refusal && <Alert type="error" showIcon title={refusal} style={{ marginBottom: 16 }} data-testid="form-refusal" />}
      <Form
        form={form}
        layout="vertical"
        initialValues={{
          acceptance: c.acceptance,
          interface: c.interface ?? AUTO,
          offset_percent: c.offset_bp === null ? null : c.offset_bp / 100,
          ...fixedToForm(c.offset_fixed_bytes),
          node: c.node ?? '',
          isp_id: c.isp_id,
          device_type: c.device_type,
        }}
      >
        <Form.Item name="acceptance" label={t('machines.acceptance')}>
          <Select
            options={(['accepted', 'under_acceptance'] as const).map((a) => ({ value: a, label: t(`machines.acceptance.${a}`) }))}
          />
        </Form.Item>
        <Form.Item
          name="interface"
          label={t('machines.interface')}
          extra={machine.ambiguous ? <Tag color="warning">{t('machines.ambiguous')}</Tag> : undefined}
        >
          <Select
            options={[
              { value: AUTO, label: `${t('common.auto')}${machine.chosen_interface ? ` (${machine.chosen_interface})` : ''}` },
              ...interfaces.map((i) => ({
                value: i.name,
                disabled: !i.physical,
                label: `${i.name}${i.mac ? ` · ${i.mac}` : ''} · ${i.physical ? t('machines.physical') : t('machines.virtual')}`,
              })),
            ]}
          />
        </Form.Item>
        <Form.Item name="offset_percent" label={t('machines.offset')} rules={[offsetRule(t('push.offsetInvalid'))]} extra={t('push.offsetHelp')}>
          <InputNumber precision={2} step={0.5} style={{ width: '100%' }} placeholder={t('offsets.inheritNode')} id="machine_offset" />
        </Form.Item>
        <FixedOffsetItem t={t} placeholder={t('offsets.inheritNode')} testId="machine-fixed" />
        <Form.Item label={t('offsets.effective')}>
          <EffectiveOffsetView e={machine.effective_offset} t={t} testId="edit-effective-offset" />
        </Form.Item>
        <Form.Item name="node" label={t('machines.node')}>
          <Input placeholder={t('machines.nodePlaceholder')} id="machine_node" />
        </Form.Item>
        <Form.Item name="isp_id" label={t('machines.ispId')}>
          <InputNumber precision={0} style={{ width: '100%' }} placeholder={t('common.inherit')} />
        </Form.Item>
        <Form.Item name="device_type" label={t('machines.deviceType')}>
          <InputNumber precision={0} style={{ width: '100%' }} placeholder={t('common.inherit')} />
        </Form.Item>
      </Form>
    </Modal>
  );
}
