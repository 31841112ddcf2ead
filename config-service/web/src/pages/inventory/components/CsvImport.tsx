import { useState } from 'react';
import { App, Button, Upload } from 'antd';
import { UploadOutlined } from '@ant-design/icons';
import { api } from '../../../api/client';
import { errorMessage } from '../../../api/errors';
import { useI18n } from '../../../i18n';

/// Upload a CSV inventory (host_name, ip / mac / ops_host_id, node): all rows or none.
export default function CsvImport({ onImported }: { onImported: () => void }) {
  const { t } = useI18n();
  const { message, modal } = App.useApp();
  const [busy, setBusy] = useState(false);
  const upload = async (file: File) => {
    setBusy(true);
    try {
      const applied = await api.importInventoryCsv(await file.text());
      message.success(t('inventory.imported', { hosts: applied.hosts, matched: applied.matched, changed: applied.changed }));
      onImported();
    } catch (e) {
      modal.error({ title: t('inventory.importFailed'), content: errorMessage(e, t) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Upload
      accept=".csv,text/csv"
      showUploadList={false}
      beforeUpload={(file) => {
        void upload(file);
        return false;
      }}
    >
      <Button icon={<UploadOutlined />} loading={busy} data-testid="inventory-import">
        {t('inventory.import')}
      </Button>
    </Upload>
  );
}
