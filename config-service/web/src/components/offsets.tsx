// Offsets (源数据处理) in the console: the fixed amount is entered in MB (10^6 bytes) with
// "increase"/"decrease", as the first agent did, and stored in bytes per 5-minute point; the
// effective offset is shown with the level each kind comes from (computed by the service).
import { Form, InputNumber, Select, Space, Tag } from 'antd';
import type { EffectiveOffset, OffsetLevel } from '../api/client';
import type { Translate } from '../i18n';
import { percent } from './format';

export const BYTES_PER_MB = 1_000_000;
/// proto::offset::FIXED_BYTES_MAX in MB.
export const FIXED_MB_MAX = 4_000_000;

export type FixedDirection = 'increase' | 'decrease';

/// The form's fields of a fixed amount; `fixed_mb` null = not set at this level.
export interface FixedValues {
  fixed_direction: FixedDirection;
  fixed_mb: number | null;
}

/// Bytes per point (null = not set) → the form's direction and MB.
export function fixedToForm(bytes: number | null | undefined): FixedValues {
  if (bytes === null || bytes === undefined) return { fixed_direction: 'increase', fixed_mb: null };
  return { fixed_direction: bytes < 0 ? 'decrease' : 'increase', fixed_mb: Math.abs(bytes) / BYTES_PER_MB };
}

/// The form's direction and MB → bytes per point, exact to the byte (null = not set).
export function fixedFromForm(v: Partial<FixedValues>): number | null {
  if (v.fixed_mb === null || v.fixed_mb === undefined) return null;
  const bytes = Math.round(v.fixed_mb * BYTES_PER_MB);
  return v.fixed_direction === 'decrease' ? -bytes : bytes;
}

/// "+2 MB" / "-0.5 MB".
export function fixedText(bytes: number): string {
  const mb = Math.abs(bytes) / BYTES_PER_MB;
  return `${bytes < 0 ? '-' : '+'}${mb.toLocaleString('en-US', { maximumFractionDigits: 6 })} MB`;
}

/// Direction and MB side by side; `testId` names both for the browser tests.
export function FixedOffsetItem({ t, placeholder, testId }: { t: Translate; placeholder?: string; testId: string }) {
  return (
    <Form.Item label={t('offsets.fixed')} extra={t('offsets.fixedHelp')} required={false}>
      <Space.Compact style={{ width: '100%' }}>
        <Form.Item name="fixed_direction" noStyle>
          <Select
            style={{ width: 110 }}
            data-testid={`${testId}-direction`}
            options={[
              { value: 'increase', label: t('offsets.increase') },
              { value: 'decrease', label: t('offsets.decrease') },
            ]}
          />
        </Form.Item>
        <Form.Item
          name="fixed_mb"
          noStyle
          rules={[{ type: 'number', min: 0, max: FIXED_MB_MAX, message: t('offsets.fixedInvalid') }]}
        >
          <InputNumber min={0} max={FIXED_MB_MAX} step={1} style={{ width: '100%' }} placeholder={placeholder} suffix="MB" id={`${testId}-mb`} />
        </Form.Item>
      </Space.Compact>
    </Form.Item>
  );
}

function LevelTag({ level, t }: { level: OffsetLevel; t: Translate }) {
  const color = level === 'machine' ? 'blue' : level === 'node' ? 'purple' : 'default';
  return (
    <Tag color={color} style={{ marginInlineEnd: 0 }}>
      {t(`offsets.level.${level}`)}
    </Tag>
  );
}

/// "3.00% 节点 · +2 MB/点 机器".
export function EffectiveOffsetView({ e, t, testId }: { e: EffectiveOffset; t: Translate; testId?: string }) {
  return (
    <Space size={4} wrap data-testid={testId} style={{ whiteSpace: 'nowrap' }}>
      <span>{percent(e.offset_bp)}</span>
      <LevelTag level={e.offset_bp_level} t={t} />
      <span>·</span>
      <span>
        {fixedText(e.offset_fixed_bytes)}/{t('offsets.perPoint')}
      </span>
      <LevelTag level={e.offset_fixed_level} t={t} />
    </Space>
  );
}
