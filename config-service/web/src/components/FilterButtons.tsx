// The 查询 / 重置 pair that ends every filter bar: submit the form, or clear it and `onReset`;
// `children` (e.g. an export button) follow in the same row.
import type { ReactNode } from 'react';
import { Button, Form, Space } from 'antd';
import { useI18n } from '../i18n';

export default function FilterButtons({ onReset, children }: { onReset: () => void; children?: ReactNode }) {
  const { t } = useI18n();
  const form = Form.useFormInstance();
  return (
    <Space>
      <Button type="primary" htmlType="submit">
        {t('common.search')}
      </Button>
      <Button
        onClick={() => {
          form.resetFields();
          onReset();
        }}
      >
        {t('common.reset')}
      </Button>
      {children}
    </Space>
  );
}
