import { Alert, Tag, Tooltip } from 'antd';
import type { AgentHealth } from '../../../api/client';
import { formatTime } from '../../../components/format';
import type { Translate } from '../../../i18n';

/** One line per condition the agent reports (a past clock step is shown, but is no problem). */
export function healthProblems(h: AgentHealth | null, t: Translate): { key: string; label: string; text: string }[] {
  if (!h) return [];
  const out: { key: string; label: string; text: string }[] = [];
  if (h.clock_unsynchronised_since !== undefined)
    out.push({ key: 'clock', label: t('health.clock'), text: t('health.clockText', { since: formatTime(h.clock_unsynchronised_since) }) });
  if (h.sampler_cannot_commit)
    out.push({ key: 'commit', label: t('health.commit'), text: t('health.commitText', { since: formatTime(h.sampler_cannot_commit.since), why: h.sampler_cannot_commit.why }) });
  if (h.timeline_stuck_since !== undefined)
    out.push({ key: 'timeline', label: t('health.timeline'), text: t('health.timelineText', { since: formatTime(h.timeline_stuck_since) }) });
  if (h.config_refused)
    out.push({ key: 'config', label: t('health.config'), text: t('health.configText', { key: h.config_refused.key, why: h.config_refused.why, since: formatTime(h.config_refused.since) }) });
  if (h.interface_missing)
    out.push({ key: 'interface', label: t('health.interface'), text: t('health.interfaceText', { name: h.interface_missing.name, since: formatTime(h.interface_missing.since) }) });
  if (h.settings_missing)
    out.push({ key: 'settings', label: t('health.settings'), text: t('health.settingsText', { which: h.settings_missing.which.join(', '), since: formatTime(h.settings_missing.since) }) });
  return out;
}

/** Red tags under the host name in the machine table. */
export function HealthTags({ id, health, t }: { id: number; health: AgentHealth | null; t: Translate }) {
  return (
    <>
      {healthProblems(health, t).map((p) => (
        <Tooltip key={p.key} title={p.text}>
          <Tag color="error" data-testid={`health-${p.key}-${id}`}>{p.label}</Tag>
        </Tooltip>
      ))}
    </>
  );
}

/** The conditions in full, at the top of the machine drawer (and the last clock step). */
export function HealthAlerts({ health, t }: { health: AgentHealth | null; t: Translate }) {
  const problems = healthProblems(health, t);
  const step = health?.last_clock_step;
  return (
    <>
      {problems.map((p) => (
        <Alert key={p.key} type="error" showIcon style={{ marginBottom: 8 }} message={p.label} description={p.text} data-testid={`health-alert-${p.key}`} />
      ))}
      {step && (
        <Alert
          type="info"
          style={{ marginBottom: 8 }}
          message={t('health.stepText', { secs: String(Math.round(step.step_ms / 1000)), at: formatTime(step.at) })}
        />
      )}
    </>
  );
}
