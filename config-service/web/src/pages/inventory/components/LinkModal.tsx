import { useState } from 'react';
import { App, Modal, Select, Typography } from 'antd';
import { api, type InventoryHost } from '../../../api/client';
import { errorMessage } from '../../../api/errors';
import { useApi } from '../../../components/useApi';
import { useI18n } from '../../../i18n';

/// Pair an inventory host with a machine no host is paired with (an operator's link).
export default function LinkModal({ host, onClose }: { host: InventoryHost; onClose: (changed: boolean) => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const [machineId, setMachineId] = useState<number | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const machines = useApi(() => api.unmatchedMachines(1, 500), []);
  const options = (machines.data?.items ?? []).map((m) => ({
    value: m.id,
    label: `${m.hostname} · ${m.mac}${m.ips.length ? ` · ${m.ips.join(' ')}` : ''}`,
  }));
  const save = async () => {
    if (machineId === undefined) return;
    setSaving(true);
    try {
      await api.linkInventoryHost(host.source, host.host_key, machineId);
      message.success(t('inventory.linked'));
      onClose(true);
    } catch (e) {
      message.error(errorMessage(e, t));
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal
      open
      title={t('inventory.linkTitle', { host: host.name })}
      okText={t('common.save')}
      cancelText={t('common.cancel')}
      okButtonProps={{ disabled: machineId === undefined, loading: saving }}
      onOk={save}
      onCancel={() => onClose(false)}
    >
      <Typography.Paragraph type="secondary">{t('inventory.linkHelp')}</Typography.Paragraph>
      <Select
        showSearch
        style={{ width: '100%' }}
        loading={machines.loading}
        placeholder={t('inventory.pickMachine')}
        optionFilterProp="label"
        options={options}
        value={machineId}
        onChange={setMachineId}
        data-testid="link-machine"
      />
    </Modal>
  );
}
