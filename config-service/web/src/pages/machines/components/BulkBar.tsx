import { useState } from 'react';
import { App, Button, Input, InputNumber, Popover, Space, Typography } from 'antd';
import { api, type ConfigPatch } from '../../../api/client';
import { errorMessage } from '../../../api/errors';
import { useI18n } from '../../../i18n';

/// Bulk actions on the selected machines, each behind a confirmation.
export default function BulkBar({ ids, onDone }: { ids: number[]; onDone: () => void }) {
  const { t } = useI18n();
  const { modal, message } = App.useApp();
  const [offset, setOffset] = useState<number | null>(null);
  const [node, setNode] = useState('');
  const run = (what: string, patch: ConfigPatch) =>
    modal.confirm({
      title: t('machines.bulkConfirm', { n: ids.length, what }),
      okText: t('common.ok'),
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          const { updated } = await api.bulkUpdate(ids, patch);
          message.success(t('machines.bulkDone', { n: updated }));
          onDone();
        } catch (e) {
          message.error(errorMessage(e, t));
        }
      },
    });
  if (ids.length === 0) return null;
  return (
    <Space wrap style={{ marginBottom: 12 }} data-testid="bulk-bar">
      <Typography.Text strong>{t('machines.selected', { n: ids.length })}</Typography.Text>
      <Button onClick={() => run(t('machines.bulkOn'), { push_enabled: true })}>{t('machines.bulkOn')}</Button>
      <Button danger onClick={() => run(t('machines.bulkOff'), { push_enabled: false })}>
        {t('machines.bulkOff')}
      </Button>
      <Popover
        trigger="click"
        content={
          <Space.Compact>
            <InputNumber value={offset} onChange={setOffset} precision={2} placeholder={t('machines.offsetPlaceholder')} style={{ width: 180 }} />
            <Button
              type="primary"
              onClick={() =>
                run(`${t('machines.bulkOffset')} ${offset === null ? t('common.inherit') : `${offset}%`}`, {
                  offset_bp: offset === null ? null : Math.round(offset * 100),
                })
              }
            >
              {t('common.ok')}
            </Button>
          </Space.Compact>
        }
      >
        <Button>{t('machines.bulkOffset')}</Button>
      </Popover>
      <Popover
        trigger="click"
        content={
          <Space.Compact>
            <Input value={node} onChange={(e) => setNode(e.target.value)} placeholder={t('machines.nodePlaceholder')} style={{ width: 180 }} />
            <Button type="primary" onClick={() => run(`${t('machines.bulkNode')} ${node || t('common.none')}`, { node: node.trim() || null })}>
              {t('common.ok')}
            </Button>
          </Space.Compact>
        }
      >
        <Button>{t('machines.bulkNode')}</Button>
      </Popover>
    </Space>
  );
}
