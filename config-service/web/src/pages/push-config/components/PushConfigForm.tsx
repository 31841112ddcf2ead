import { useState } from 'react';
import { Alert, App, Button, Card, Col, Form, Input, InputNumber, Row, Select, Space, Tag, Tooltip } from 'antd';
import { DeleteOutlined, PlusOutlined, SendOutlined } from '@ant-design/icons';
import { api, type AlertChannel, type GlobalConfig } from '../../../api/client';
import { errorMessage } from '../../../api/errors';
import { FixedOffsetItem, fixedFromForm, fixedToForm, type FixedValues } from '../../../components/offsets';
import { useApi } from '../../../components/useApi';
import { useI18n } from '../../../i18n';
import ProfileFields, { fromProfileValues, toProfileValues, type ProfileValues } from './ProfileFields';

/// The form's values: the offset in percent, secrets only when typed.
interface Values extends FixedValues {
  customer: ProfileValues & { base_url: string; access_id: string; new_secret?: string };
  provider_id: string;
  provider_uiid: string;
  isp_id: number;
  device_type: number;
  billed_direction: GlobalConfig['billed_direction'];
  offset_percent: number;
  alerts: {
    failure_threshold: number;
    offline_periods: number;
    renotify_hours: number;
    storm_percent: number;
    language: string;
    health_after_minutes: number;
    push_held_after_hours: number;
    channels: { name: string; kind: AlertChannel['kind']; url: string; new_secret?: string; secret_set?: boolean }[];
  };
}

const HTTP_URL = /^https?:\/\/.+/;

/// Same rule as the service: above -100 % and at most 1000 %.
export function offsetRule(message: string) {
  return {
    validator: (_: unknown, value: number | null | undefined) =>
      value === null || value === undefined || (value > -100 && value <= 1000) ? Promise.resolve() : Promise.reject(new Error(message)),
  };
}

function toValues(doc: GlobalConfig): Values {
  return {
    customer: {
      base_url: doc.customer.base_url,
      access_id: doc.customer.access_id,
      ...toProfileValues(doc.customer),
    },
    provider_id: doc.provider_id,
    provider_uiid: doc.provider_uiid,
    isp_id: doc.isp_id,
    device_type: doc.device_type,
    billed_direction: doc.billed_direction,
    offset_percent: doc.offset_bp / 100,
    ...fixedToForm(doc.offset_fixed_bytes ?? 0),
    alerts: {
      failure_threshold: doc.alerts.failure_threshold,
      offline_periods: doc.alerts.offline_periods,
      renotify_hours: doc.alerts.renotify_hours,
      storm_percent: doc.alerts.storm_percent,
      language: doc.alerts.language,
      health_after_minutes: doc.alerts.health_after_minutes ?? 15,
      push_held_after_hours: doc.alerts.push_held_after_hours ?? 24,
      channels: doc.alerts.channels.map((c) => ({ name: c.name, kind: c.kind, url: c.url, secret_set: c.secret_set })),
    },
  };
}

/// The document the API takes: the stored one with the form's values; a secret left empty
/// is left out, so the service keeps the stored one.
function toDoc(stored: GlobalConfig, v: Values): GlobalConfig {
  const { secret_set: _set, secret: _secret, ...customer } = stored.customer;
  const { new_secret, base_url, access_id, ...profile } = v.customer;
  return {
    ...stored,
    customer: { ...customer, base_url, access_id, ...fromProfileValues(profile), ...(new_secret ? { secret: new_secret } : {}) },
    provider_id: v.provider_id,
    provider_uiid: v.provider_uiid,
    isp_id: v.isp_id,
    device_type: v.device_type,
    billed_direction: v.billed_direction,
    offset_bp: Math.round(v.offset_percent * 100),
    offset_fixed_bytes: fixedFromForm(v) ?? 0,
    alerts: {
      // Settings this form does not show are kept as stored.
      ...stored.alerts,
      ...v.alerts,
      channels: (v.alerts.channels ?? []).map((c) => ({
        name: c.name,
        kind: c.kind,
        url: c.url,
        ...(c.new_secret ? { secret: c.new_secret } : {}),
      })),
    },
  };
}

export default function PushConfigForm({ stored, onSaved }: { stored: GlobalConfig; onSaved: (doc: GlobalConfig) => void }) {
  const { t } = useI18n();
  const { modal, message } = App.useApp();
  const [testing, setTesting] = useState(false);
  /// The saved channels get a test message now; each channel's answer is shown.
  const sendTestAlert = async () => {
    setTesting(true);
    try {
      const { results } = await api.testAlert();
      modal.info({
        title: t('push.testAlertResult'),
        content: (
          <div data-testid="test-alert-results">
            {results.map((r) => (
              <div key={r.channel}>
                {r.channel}: {r.ok ? <Tag color="success">{t('push.testAlertOk')}</Tag> : <Tag color="error">{t('push.testAlertFailed')}</Tag>}
                {r.error ? <span> {r.error}</span> : null}
              </div>
            ))}
          </div>
        ),
      });
    } catch (e) {
      message.error(errorMessage(e, t));
    } finally {
      setTesting(false);
    }
  };
  const [form] = Form.useForm<Values>();
  const presets = useApi(() => api.profilePresets(), []);
  const [changingSecret, setChangingSecret] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const save = (values: Values) =>
    modal.confirm({
      title: t('push.saveConfirm'),
      okText: t('common.ok'),
      cancelText: t('common.cancel'),
      onOk: async () => {
        setSaving(true);
        setRefusal(null);
        try {
          const doc = await api.updateGlobalConfig(toDoc(stored, values));
          message.success(t('common.saved'));
          setChangingSecret(false);
          form.setFieldsValue({ customer: { new_secret: undefined } });
          onSaved(doc);
        } catch (e) {
          setRefusal(errorMessage(e, t));
        } finally {
          setSaving(false);
        }
      },
    });
  const required = [{ required: true, message: t('push.required') }];
  return (
    <Form form={form} layout="vertical" initialValues={toValues(stored)} onFinish={save} data-testid="push-config-form">
      {refusal && <Alert type="error" showIcon title={refusal} style={{ marginBottom: 16 }} data-testid="form-refusal" closable onClose={() => setRefusal(null)} />}
      <Card title={t('push.customer')} size="small">
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item name={['customer', 'base_url']} label={t('push.baseUrl')} rules={[...required, { pattern: HTTP_URL, message: t('push.urlInvalid') }]}>
              <Input />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name={['customer', 'report_path']} label={t('push.reportPath')} rules={required}>
              <Input id="report_path" />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name={['customer', 'query_path']} label={t('push.queryPath')} extra={t('profile.queryPathHelp')}>
              <Input placeholder={t('profile.none')} />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item name={['customer', 'access_id']} label={t('push.accessId')}>
              <Input />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item label={t('push.secret')}>
              {changingSecret ? (
                <Space.Compact style={{ width: '100%' }}>
                  <Form.Item name={['customer', 'new_secret']} noStyle rules={required}>
                    <Input.Password placeholder={t('push.secretNew')} autoComplete="new-password" />
                  </Form.Item>
                  <Button onClick={() => setChangingSecret(false)}>{t('common.cancel')}</Button>
                </Space.Compact>
              ) : (
                <Space>
                  <Tag color={stored.customer.secret_set ? 'success' : 'warning'}>
                    {stored.customer.secret_set ? t('push.secretSet') : t('push.secretUnset')}
                  </Tag>
                  <Button size="small" onClick={() => setChangingSecret(true)}>
                    {stored.customer.secret_set ? t('push.secretChange') : t('push.secretSetNew')}
                  </Button>
                </Space>
              )}
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="provider_id" label={t('push.providerId')}>
              <Input />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="provider_uiid" label={t('push.providerUiid')}>
              <Input />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="isp_id" label={t('push.ispId')} rules={required}>
              <InputNumber precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="device_type" label={t('push.deviceType')} rules={required}>
              <InputNumber precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="billed_direction" label={t('push.billed')}>
              <Select options={(['tx', 'rx', 'max', 'sum'] as const).map((d) => ({ value: d, label: t(`push.billed.${d}`) }))} />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item
              name="offset_percent"
              label={t('push.offset')}
              extra={t('push.offsetHelp')}
              rules={[...required, offsetRule(t('push.offsetInvalid'))]}
            >
              <InputNumber precision={2} step={0.5} style={{ width: '100%' }} id="offset_percent" addonAfter="%" />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <FixedOffsetItem t={t} testId="global-fixed" />
          </Col>
        </Row>
      </Card>
      <ProfileFields form={form} presets={presets.data ?? []} />
      <Card title={t('push.thresholds')} size="small" style={{ marginTop: 16 }}>
        <Row gutter={16}>
          <Col xs={12} md={5}>
            <Form.Item name={['alerts', 'failure_threshold']} label={t('push.failureThreshold')} rules={required}>
              <InputNumber min={1} precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={12} md={5}>
            <Form.Item name={['alerts', 'offline_periods']} label={t('push.offlinePeriods')} rules={required}>
              <InputNumber min={1} precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={12} md={5}>
            <Form.Item name={['alerts', 'renotify_hours']} label={t('push.renotifyHours')} rules={required}>
              <InputNumber min={0} precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={12} md={5}>
            <Form.Item name={['alerts', 'storm_percent']} label={t('push.stormPercent')} rules={required}>
              <InputNumber min={0} max={100} precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={12} md={5}>
            <Form.Item name={['alerts', 'health_after_minutes']} label={t('push.healthAfterMinutes')} rules={required}>
              <InputNumber min={0} precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={12} md={5}>
            <Form.Item
              name={['alerts', 'push_held_after_hours']}
              label={t('push.pushHeldAfterHours')}
              tooltip={t('push.pushHeldAfterHoursHelp')}
              rules={required}
            >
              <InputNumber min={0} max={8784} precision={0} style={{ width: '100%' }} data-testid="push-held-after-hours" />
            </Form.Item>
          </Col>
          <Col xs={12} md={4}>
            <Form.Item name={['alerts', 'language']} label={t('push.alertLanguage')}>
              <Select options={[{ value: 'zh', label: '中文' }, { value: 'en', label: 'English' }]} />
            </Form.Item>
          </Col>
        </Row>
      </Card>
      <Card
        title={t('push.channels')}
        size="small"
        style={{ marginTop: 16 }}
        extra={
          <Tooltip title={t('push.testAlertHint')}>
            <Button icon={<SendOutlined />} loading={testing} onClick={sendTestAlert} data-testid="test-alert">
              {t('push.testAlert')}
            </Button>
          </Tooltip>
        }
      >
        <Form.List name={['alerts', 'channels']}>
          {(fields, { add, remove }) => (
            <>
              {fields.map((field) => (
                <Row gutter={8} key={field.key} align="top">
                  <Col xs={12} md={4}>
                    <Form.Item name={[field.name, 'name']} label={t('push.channelName')} rules={required}>
                      <Input />
                    </Form.Item>
                  </Col>
                  <Col xs={12} md={4}>
                    <Form.Item name={[field.name, 'kind']} label={t('push.channelKind')} rules={required}>
                      <Select options={['webhook', 'dingtalk', 'wecom', 'feishu'].map((k) => ({ value: k, label: k }))} />
                    </Form.Item>
                  </Col>
                  <Col xs={24} md={9}>
                    <Form.Item name={[field.name, 'url']} label={t('push.channelUrl')} rules={[...required, { pattern: HTTP_URL, message: t('push.urlInvalid') }]}>
                      <Input />
                    </Form.Item>
                  </Col>
                  <Col xs={20} md={6}>
                    <Form.Item name={[field.name, 'new_secret']} label={t('push.channelSecret')}>
                      <Input.Password
                        autoComplete="new-password"
                        placeholder={form.getFieldValue(['alerts', 'channels', field.name, 'secret_set']) ? t('push.secretSet') : t('push.secretUnset')}
                      />
                    </Form.Item>
                  </Col>
                  <Col xs={4} md={1}>
                    <Form.Item label=" ">
                      <Button danger icon={<DeleteOutlined />} onClick={() => remove(field.name)} title={t('push.removeChannel')} />
                    </Form.Item>
                  </Col>
                </Row>
              ))}
              <Button type="dashed" icon={<PlusOutlined />} onClick={() => add({ kind: 'webhook' })}>
                {t('push.addChannel')}
              </Button>
            </>
          )}
        </Form.List>
      </Card>
      <Space style={{ marginTop: 16 }}>
        <Button type="primary" htmlType="submit" loading={saving} data-testid="save-push-config">
          {t('common.save')}
        </Button>
        <Button onClick={() => form.resetFields()}>{t('common.reset')}</Button>
      </Space>
    </Form>
  );
}
