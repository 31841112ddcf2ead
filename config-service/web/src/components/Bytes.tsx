import { Tooltip } from 'antd';
import { useI18n } from '../i18n';
import { exactBytes, humanBytes } from './format';

/// Bytes, human-readable, with the exact count on hover (the customer bills the exact count).
export default function Bytes({ value, extra }: { value: number; extra?: React.ReactNode }) {
  const { t } = useI18n();
  return (
    <Tooltip
      title={
        <span>
          {t('common.exactBytes', { n: exactBytes(value) })}
          {extra}
        </span>
      }
    >
      <span className="bytes" data-bytes={value} style={{ borderBottom: '1px dotted #bbb', cursor: 'help' }}>
        {humanBytes(value)}
      </span>
    </Tooltip>
  );
}
