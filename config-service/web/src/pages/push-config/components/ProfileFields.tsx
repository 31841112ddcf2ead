import { Button, Card, Col, Form, Input, InputNumber, Row, Select, Space, Typography, type FormInstance } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import type { AnswerRule, AuthSettings, CustomerProfile, LineFormat, ProfilePreset, QueryMapping } from '../../../api/client';
import { useI18n } from '../../../i18n';

/// The profile as the form holds it: static headers as {name, value} rows (the API's pairs).
export interface ProfileValues {
  report_path: string;
  query_path: string;
  day_format: string;
  hour_format: string;
  mac_format: string;
  batch_size: number;
  encoding: CustomerProfile['encoding'];
  line: LineFormat;
  auth: Omit<AuthSettings, 'static_headers'> & { static_headers: { name: string; value: string }[] };
  answer: AnswerRule;
  query: QueryMapping;
}

type ProfileSource = Pick<CustomerProfile, keyof Omit<ProfileValues, 'auth'>> & { auth: AuthSettings };

export function toProfileValues(p: ProfileSource): ProfileValues {
  return {
    report_path: p.report_path,
    query_path: p.query_path,
    day_format: p.day_format,
    hour_format: p.hour_format,
    mac_format: p.mac_format,
    batch_size: p.batch_size,
    encoding: p.encoding,
    line: { ...p.line, fields: [...p.line.fields] },
    auth: { ...p.auth, static_headers: p.auth.static_headers.map(([name, value]) => ({ name, value })) },
    answer: { ...p.answer },
    query: { ...p.query },
  };
}

export function fromProfileValues(v: ProfileValues): ProfileSource {
  return {
    report_path: v.report_path,
    query_path: v.query_path ?? '',
    day_format: v.day_format,
    hour_format: v.hour_format,
    mac_format: v.mac_format,
    batch_size: v.batch_size,
    encoding: v.encoding,
    line: { ...v.line, fields: [...(v.line?.fields ?? [])] },
    query: { ...v.query },
    auth: {
      ...v.auth,
      sequence_header: v.auth.sequence_header ?? '',
      static_headers: (v.auth.static_headers ?? []).map(({ name, value }) => [name, value ?? ''] as [string, string]),
    },
    answer: {
      ...v.answer,
      result_field: v.answer.result_field ?? '',
      message_field: v.answer.message_field ?? '',
      ok_values: v.answer.ok_values ?? [],
      invalid_values: v.answer.invalid_values ?? [],
      conflict_values: v.answer.conflict_values ?? [],
      ok_texts: v.answer.ok_texts ?? [],
    },
  };
}

/// A value's JSON with object keys sorted: the form keeps its own key order.
function canonical(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
        : v;
  return JSON.stringify(sorted(value));
}

/// The preset whose every profile value equals the form's, if any.
export function matchingPreset(presets: ProfilePreset[], v: ProfileValues | undefined): string | undefined {
  if (!v?.line || !v.auth || !v.answer || !v.query) return undefined;
  const mine = canonical(fromProfileValues(v));
  return presets.find((p) => canonical(fromProfileValues(toProfileValues(p))) === mine)?.id;
}

const MAC_FORMATS = ['lower-colon', 'upper-colon', 'lower-dash', 'upper-dash', 'lower-plain', 'upper-plain'];
const RECORD_FIELDS = [
  'flux_dat', 'flux_hour', 'provider_id', 'provider_uiid', 'isp_id', 'mac',
  'v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9', 'v10', 'v11', 'version', 'device_type',
];

/// The customer profile part of 推送配置: a preset picker, then every value editable. The
/// values are checked by the service (the same proto check as the agent's); its refusal names
/// the field.
export default function ProfileFields({ form, presets }: { form: FormInstance; presets: ProfilePreset[] }) {
  const { t, lang } = useI18n();
  const encoding = Form.useWatch(['customer', 'encoding'], form) as ProfileValues['encoding'] | undefined;
  const current = Form.useWatch(['customer'], { form, preserve: true }) as ProfileValues | undefined;
  const matching = matchingPreset(presets, current);
  const apply = (id: string) => {
    const preset = presets.find((p) => p.id === id);
    if (preset) form.setFieldsValue({ customer: toProfileValues(preset) });
  };
  const item = (path: string[], label: string, extra?: string) => ({ name: ['customer', ...path], label, extra });
  const tags = (placeholder: string) => <Select mode="tags" open={false} suffixIcon={null} placeholder={placeholder} tokenSeparators={[',', ' ']} />;
  return (
    <Card
      title={t('profile.title')}
      size="small"
      style={{ marginTop: 16 }}
      extra={
        <Space>
          <Typography.Text type="secondary">{t('profile.preset')}</Typography.Text>
          <Select
            style={{ minWidth: 260 }}
            value={matching ?? 'custom'}
            onChange={apply}
            data-testid="profile-preset"
            options={[
              ...presets.map((p) => ({ value: p.id, label: lang === 'en-US' ? p.name_en : p.name_zh })),
              { value: 'custom', label: t('profile.custom'), disabled: true },
            ]}
          />
        </Space>
      }
    >
      <Row gutter={16}>
        <Col xs={12} md={6}>
          <Form.Item {...item(['encoding'], t('profile.encoding'))}>
            <Select
              data-testid="profile-encoding"
              options={[
                { value: 'json', label: t('profile.encoding.json') },
                { value: 'line', label: t('profile.encoding.line') },
              ]}
            />
          </Form.Item>
        </Col>
        <Col xs={12} md={6}>
          <Form.Item {...item(['batch_size'], t('profile.batchSize'), t('profile.batchSizeHelp'))}>
            <InputNumber min={1} max={1000} precision={0} style={{ width: '100%' }} />
          </Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['day_format'], t('profile.dayFormat'))}>
            <Input />
          </Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['hour_format'], t('profile.hourFormat'))}>
            <Input />
          </Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['mac_format'], t('profile.macFormat'))}>
            <Select options={MAC_FORMATS.map((f) => ({ value: f, label: f }))} />
          </Form.Item>
        </Col>
      </Row>
      {/* Hidden, not unmounted, for JSON: the line values stay in the form and are saved. */}
      <div style={encoding === 'line' ? undefined : { display: 'none' }} data-testid="profile-line">
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item {...item(['line', 'fields'], t('profile.lineFields'), t('profile.lineFieldsHelp'))}>
              <Select mode="multiple" options={RECORD_FIELDS.map((f) => ({ value: f, label: f }))} />
            </Form.Item>
          </Col>
          <Col xs={8} md={3}>
            <Form.Item {...item(['line', 'separator'], t('profile.separator'))}>
              <Input />
            </Form.Item>
          </Col>
          <Col xs={8} md={3}>
            <Form.Item {...item(['line', 'lines_per_request'], t('profile.linesPerRequest'))}>
              <InputNumber min={1} max={100} precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={8} md={6}>
            <Form.Item {...item(['line', 'content_type'], t('profile.contentType'))}>
              <Input />
            </Form.Item>
          </Col>
        </Row>
      </div>
      <Typography.Title level={5}>{t('profile.auth')}</Typography.Title>
      <Row gutter={16}>
        <Col xs={12} md={6}>
          <Form.Item {...item(['auth', 'signature'], t('profile.signature'))}>
            <Select
              options={[
                { value: 'hmac-sha256', label: t('profile.signature.hmac') },
                { value: 'none', label: t('profile.signature.none') },
              ]}
            />
          </Form.Item>
        </Col>
        <Col xs={12} md={6}>
          <Form.Item {...item(['auth', 'access_id_header'], t('profile.accessIdHeader'))}>
            <Input data-testid="profile-access-id-header" />
          </Form.Item>
        </Col>
        <Col xs={12} md={6}>
          <Form.Item {...item(['auth', 'sequence_header'], t('profile.sequenceHeader'), t('profile.sequenceHeaderHelp'))}>
            <Input />
          </Form.Item>
        </Col>
        <Col xs={24} md={6}>
          <Form.Item label={t('profile.staticHeaders')}>
            <Form.List name={['customer', 'auth', 'static_headers']}>
              {(fields, { add, remove }) => (
                <Space orientation="vertical" style={{ width: '100%' }}>
                  {fields.map((field) => (
                    <Space.Compact key={field.key} style={{ width: '100%' }}>
                      <Form.Item name={[field.name, 'name']} noStyle>
                        <Input placeholder={t('profile.headerName')} />
                      </Form.Item>
                      <Form.Item name={[field.name, 'value']} noStyle>
                        <Input placeholder={t('profile.headerValue')} />
                      </Form.Item>
                      <Button icon={<DeleteOutlined />} onClick={() => remove(field.name)} title={t('push.removeChannel')} />
                    </Space.Compact>
                  ))}
                  <Button type="dashed" size="small" icon={<PlusOutlined />} onClick={() => add({ name: '', value: '' })}>
                    {t('profile.addHeader')}
                  </Button>
                </Space>
              )}
            </Form.List>
          </Form.Item>
        </Col>
      </Row>
      <Typography.Title level={5}>{t('profile.answer')}</Typography.Title>
      <Typography.Paragraph type="secondary">{t('profile.answerHelp')}</Typography.Paragraph>
      <Row gutter={16}>
        <Col xs={12} md={4}>
          <Form.Item {...item(['answer', 'result_field'], t('profile.resultField'))}>
            <Input placeholder={t('profile.none')} data-testid="profile-result-field" />
          </Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['answer', 'ok_values'], t('profile.okValues'))}>{tags('0')}</Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['answer', 'invalid_values'], t('profile.invalidValues'))}>{tags('40001')}</Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['answer', 'conflict_values'], t('profile.conflictValues'))}>{tags('40901')}</Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['answer', 'ok_texts'], t('profile.okTexts'))}>{tags('ok')}</Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item {...item(['answer', 'message_field'], t('profile.messageField'))}>
            <Input placeholder={t('profile.none')} />
          </Form.Item>
        </Col>
      </Row>
      <Typography.Title level={5}>{t('profile.query')}</Typography.Title>
      <Typography.Paragraph type="secondary">{t('profile.queryHelp')}</Typography.Paragraph>
      <Row gutter={16}>
        {(
          [
            ['mac_param', 'profile.macParam'],
            ['day_param', 'profile.dayParam'],
            ['records_field', 'profile.recordsField'],
            ['mac_field', 'profile.macField'],
            ['hour_field', 'profile.hourField'],
            ['version_field', 'profile.versionField'],
            ['point_prefix', 'profile.pointPrefix'],
          ] as const
        ).map(([name, label]) => (
          <Col xs={12} md={3} key={name}>
            <Form.Item {...item(['query', name], t(label))}>
              <Input data-testid={`profile-query-${name}`} />
            </Form.Item>
          </Col>
        ))}
      </Row>
    </Card>
  );
}
