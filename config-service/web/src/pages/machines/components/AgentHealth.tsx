import { Alert, Tag, Tooltip } from 'antd';
import type { AgentHealth } from '../../../api/client';
import { formatTime } from '../../../components/format';
import type { Translate } from '../../../i18n';

/** One line per condition the agent reports (a past clock step is shown, but is no problem). */
/** A switch code as the console names it. */
function switchName(code: string, t: Translate): string {
  const names = { machine: 'health.switch.machine', global: 'health.switch.global', local: 'health.switch.local' } as const;
  return code in names ? t(names[code as keyof typeof names]) : code;
}

/** One line per condition the agent reports (a past clock step is shown, but is no problem).
 *  Hours waiting behind a switch an operator turned off are a warning (deliberate), the rest errors. */
export function healthProblems(
  h: AgentHealth | null,
  t: Translate,
): { key: string; label: string; text: string; severity: 'error' | 'warning' }[] {
  if (!h) return [];
  const out: { key: string; label: string; text: string; severity: 'error' | 'warning' }[] = [];
  const push = (p: { key: string; label: string; text: string }) => out.push({ severity: 'error', ...p });
  if (h.clock_unsynchronised_since !== undefined)
    push({ key: 'clock', label: t('health.clock'), text: t('health.clockText', { since: formatTime(h.clock_unsynchronised_since) }) });
  if (h.sampler_cannot_commit)
    push({ key: 'commit', label: t('health.commit'), text: t('health.commitText', { since: formatTime(h.sampler_cannot_commit.since), why: h.sampler_cannot_commit.why }) });
  if (h.timeline_stuck_since !== undefined)
    push({ key: 'timeline', label: t('health.timeline'), text: t('health.timelineText', { since: formatTime(h.timeline_stuck_since) }) });
  if (h.config_refused)
    push({ key: 'config', label: t('health.config'), text: t('health.configText', { key: h.config_refused.key, why: h.config_refused.why, since: formatTime(h.config_refused.since) }) });
  if (h.interface_missing)
    push({ key: 'interface', label: t('health.interface'), text: t('health.interfaceText', { name: h.interface_missing.name, since: formatTime(h.interface_missing.since) }) });
  if (h.settings_missing)
    push({ key: 'settings', label: t('health.settings'), text: t('health.settingsText', { which: h.settings_missing.which.join(', '), since: formatTime(h.settings_missing.since) }) });
  if (h.push_held_by_switch) {
    const held = h.push_held_by_switch;
    out.push({
      key: 'held',
      label: t('health.held'),
      severity: 'warning',
      text: t('health.heldText', {
        switches: held.switches.map((s) => switchName(s, t)).join(t('health.listSep')),
        hours: String(held.hours_waiting),
        corrections: String(held.corrections_waiting ?? 0),
        oldest: held.oldest_hour,
        since: formatTime(held.since),
      }),
    });
  }
  if (h.history_refused) {
    const r = h.history_refused;
    push({
      key: 'refused',
      label: t('health.refused'),
      text: t('health.refusedText', {
        count: String(r.count),
        kind: r.latest.kind,
        hour: r.latest.flux_hour,
        status: String(r.latest.status),
        message: r.latest.message,
        at: formatTime(r.latest.at),
      }),
    });
  }
  return out;
}

/** Red tags (orange for hours waiting behind a switch) under the host name in the machine table. */
export function HealthTags({ id, health, t }: { id: number; health: AgentHealth | null; t: Translate }) {
  return (
    <>
      {healthProblems(health, t).map((p) => (
        <Tooltip key={p.key} title={p.text}>
          <Tag color={p.severity} data-testid={`health-${p.key}-${id}`}>{p.label}</Tag>
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
        <Alert key={p.key} type={p.severity} showIcon style={{ marginBottom: 8 }} message={p.label} description={p.text} data-testid={`health-alert-${p.key}`} />
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
