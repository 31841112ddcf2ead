// A small SVG bar chart (no chart library: it keeps the first page light).
import { Empty, Tooltip, theme } from 'antd';
import { useI18n } from '../i18n';

export interface Bar {
  label: string;
  value: number;
  tip?: React.ReactNode;
  /// Overrides the theme's primary colour (e.g. an hour whose latest push failed).
  color?: string;
  /// The bar's name for tests and tools (`data-id`), e.g. its report hour.
  id?: string;
}

export default function BarChart({
  bars,
  height = 200,
  format = String,
  labelEvery = 1,
  line,
  onBarClick,
}: {
  bars: Bar[];
  height?: number;
  format?: (v: number) => string;
  labelEvery?: number;
  /// A horizontal reference line (e.g. the 95th percentile), labelled.
  line?: { value: number; label: string };
  onBarClick?: (index: number) => void;
}) {
  const { token } = theme.useToken();
  const { t } = useI18n();
  if (bars.length === 0) return <Empty description={t('common.empty')} />;
  const max = Math.max(1, line?.value ?? 0, ...bars.map((b) => b.value));
  const width = 100 / bars.length;
  const plot = height - 24;
  return (
    <div className="bar-chart" style={{ position: 'relative' }}>
      <div style={{ fontSize: 12, color: token.colorTextSecondary, marginBottom: 4 }}>{format(max)}</div>
      <div style={{ position: 'relative', display: 'flex', alignItems: 'flex-end', height: plot, borderBottom: `1px solid ${token.colorBorder}` }}>
        {line && (
          <div
            className="bar-chart-line"
            data-value={line.value}
            style={{ position: 'absolute', left: 0, right: 0, bottom: `${(line.value / max) * 100}%`, borderTop: `2px dashed ${token.colorError}`, zIndex: 1, pointerEvents: 'none' }}
          >
            <span style={{ position: 'absolute', right: 0, bottom: 2, fontSize: 11, color: token.colorError, background: token.colorBgContainer }}>
              {line.label}
            </span>
          </div>
        )}
        {bars.map((bar, i) => (
          <Tooltip key={i} title={bar.tip ?? `${bar.label}: ${format(bar.value)}`}>
            <div
              className="bar"
              data-id={bar.id}
              data-value={bar.value}
              onClick={onBarClick ? () => onBarClick(i) : undefined}
              style={{ width: `${width}%`, height: '100%', display: 'flex', alignItems: 'flex-end', padding: '0 1px', cursor: onBarClick ? 'pointer' : undefined }}
            >
              <div
                style={{
                  width: '100%',
                  height: `${(bar.value / max) * 100}%`,
                  minHeight: bar.value > 0 || bar.color ? 2 : 0,
                  background: bar.color ?? token.colorPrimary,
                  borderRadius: '2px 2px 0 0',
                }}
              />
            </div>
          </Tooltip>
        ))}
      </div>
      <div style={{ display: 'flex', fontSize: 11, color: token.colorTextSecondary }}>
        {bars.map((bar, i) => (
          <div key={i} style={{ width: `${width}%`, textAlign: 'center', overflow: 'visible', whiteSpace: 'nowrap' }}>
            {i % labelEvery === 0 ? bar.label : ''}
          </div>
        ))}
      </div>
    </div>
  );
}
