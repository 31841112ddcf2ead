// One figure of a settlement row: Mbps (3 decimals) with the exact bytes on hover. The pushed
// figure is highlighted where it differs from the raw one (an offset), the customer's where it
// is unknown (not every hour verified equal) or differs from the pushed one.
import { Tooltip, theme } from 'antd';
import type { SettlementFigures, SettlementRow } from '../../../api/client';
import { exactBytes, humanBytes } from '../../../components/format';
import { useI18n } from '../../../i18n';

export type Figure = 'max_day_p95' | 'p95' | 'mean_day_p95' | 'peak' | 'total';
export type Kind = 'raw' | 'pushed' | 'customer';

const BYTES: Record<Figure, (f: SettlementFigures) => number> = {
  max_day_p95: (f) => f.max_day_p95_bytes,
  p95: (f) => f.p95_bytes,
  mean_day_p95: (f) => f.mean_day_p95_bytes,
  peak: (f) => f.peak_bytes,
  total: (f) => f.total_bytes,
};

const MBPS: Record<Exclude<Figure, 'total'>, (f: SettlementFigures) => number> = {
  max_day_p95: (f) => f.max_day_p95_mbps,
  p95: (f) => f.p95_mbps,
  mean_day_p95: (f) => f.mean_day_p95_mbps,
  peak: (f) => f.peak_mbps,
};

export function mbpsText(mbps: number): string {
  return mbps.toFixed(3);
}

export default function FigureCell({ row, rowKey, figure, kind }: { row: SettlementRow; rowKey: string; figure: Figure; kind: Kind }) {
  const { t } = useI18n();
  const { token } = theme.useToken();
  const testId = `fig-${rowKey}-${figure}-${kind}`;
  const figures = kind === 'customer' ? row.customer.figures : row[kind];
  if (!figures) {
    const color = row.customer.status === 'mismatched' ? token.colorErrorBg : token.colorWarningBg;
    const h = row.customer.hours;
    return (
      <Tooltip title={t(`settlement.customer.${row.customer.status}`, { confirmed: h.confirmed, mismatched: h.mismatched, unverified: h.unverified, extra: h.extra })}>
        <span data-testid={testId} className="figure unknown" style={{ background: color, padding: '0 6px', borderRadius: 2 }}>
          —
        </span>
      </Tooltip>
    );
  }
  const bytes = BYTES[figure](figures);
  const text = figure === 'total' ? humanBytes(bytes) : mbpsText(MBPS[figure](figures));
  const raw = BYTES[figure](row.raw);
  const pushed = BYTES[figure](row.pushed);
  let style: React.CSSProperties = {};
  let note: React.ReactNode = null;
  if (kind === 'pushed' && pushed !== raw && raw > 0) {
    style = { color: token.colorWarningText };
    note = <div>{t('settlement.vsRaw', { pct: (((pushed - raw) / raw) * 100).toFixed(2) })}</div>;
  }
  if (kind === 'customer' && bytes !== pushed) {
    style = { background: token.colorErrorBg, padding: '0 6px' };
    note = <div>{t('settlement.vsPushed', { bytes: exactBytes(bytes - pushed) })}</div>;
  }
  return (
    <Tooltip
      title={
        <span>
          {t('common.exactBytes', { n: exactBytes(bytes) })}
          {note}
        </span>
      }
    >
      <span data-testid={testId} data-bytes={bytes} className="figure" style={{ ...style, borderBottom: '1px dotted #bbb', cursor: 'help', whiteSpace: 'nowrap' }}>
        {text}
      </span>
    </Tooltip>
  );
}
