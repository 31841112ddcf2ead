// The one typed client of the config service's admin API (types mirror the JSON of
// config-service/src/admin_api.rs and /api/openapi.json). Every call goes through `request`,
// which turns a refusal into an `ApiError` carrying the service's own message.

import { basePath } from '../base';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Page<T> {
  total: number;
  page: number;
  page_size: number;
  items: T[];
}

export type Acceptance = 'accepted' | 'under_acceptance';
export type BilledDirection = 'tx' | 'rx' | 'max' | 'sum';
export type ChannelKind = 'webhook' | 'dingtalk' | 'wecom' | 'feishu';

export interface MachineConfig {
  version: number;
  push_enabled: boolean;
  acceptance: Acceptance;
  interface: string | null;
  offset_bp: number | null;
  /** Bytes per 5-minute point (+/-), after the percentage; absent/null = not set at the machine. */
  offset_fixed_bytes?: number | null;
  /** The machine's node's offsets (absent = not set at the node). */
  node_offset_bp?: number | null;
  node_offset_fixed_bytes?: number | null;
  node: string | null;
  isp_id: number | null;
  device_type: number | null;
}

export type OffsetLevel = 'global' | 'node' | 'machine';

/** The offsets in force and the level each comes from (machine > node > global, per kind). */
export interface EffectiveOffset {
  offset_bp: number;
  offset_bp_level: OffsetLevel;
  offset_fixed_bytes: number;
  offset_fixed_level: OffsetLevel;
}

/** A node (节点) and the offsets set at it (null = not set: the global one applies). */
export interface NodeOffsets {
  node: string;
  machines: number;
  offset_bp: number | null;
  offset_fixed_bytes: number | null;
  updated_at: number | null;
  updated_by: string | null;
  effective_offset: EffectiveOffset;
}

export interface InterfaceReport {
  name: string;
  mac: string | null;
  physical: boolean;
}

export interface LastPush {
  flux_hour: string;
  status: 'success' | 'failure';
  attempted_at: number;
  message: string | null;
}

export interface Machine {
  id: number;
  machine_uid: string;
  hostname: string;
  mac: string;
  agent_version: string;
  chosen_interface: string | null;
  ambiguous: boolean;
  interfaces: InterfaceReport[] | null;
  backlog_outbox_hours: number;
  backlog_history_items: number;
  backlog_held_hours: number;
  last_push: LastPush | null;
  agent_time: number | null;
  first_seen_at: number;
  last_seen_at: number;
  config: MachineConfig;
  state: 'online' | 'offline';
  /** Registered beside this live machine with the same /etc/machine-id (a cloned image). */
  duplicate_of: number | null;
  /** The zone the agent names its hours in (`UTC+08:00`); null: the agent did not say. */
  report_timezone: string | null;
  /** That zone is not the service's `report_timezone`. */
  timezone_mismatch: boolean;
  /** What the agent reports wrong with itself (times on the service's clock); null: an agent older than health reports. */
  health: AgentHealth | null;
  /** The offsets the agent pushes with and where each comes from. */
  effective_offset: EffectiveOffset;
}

/** Conditions an agent reports; each member present = the condition holds (since = unix secs). */
export interface AgentHealth {
  clock_unsynchronised_since?: number;
  last_clock_step?: { step_ms: number; at: number };
  sampler_cannot_commit?: { since: number; why: string };
  timeline_stuck_since?: number;
  config_refused?: { key: string; why: string; since: number };
  interface_missing?: { name: string; since: number };
  settings_missing?: { which: string[]; since: number };
  /** A push switch is off while hours built before (or corrections) wait to be sent. */
  push_held_by_switch?: { since: number; switches: string[]; hours_waiting: number; corrections_waiting: number; oldest_hour: string };
  /** History items the service refused as invalid; the agent keeps them until an operator clears them. */
  history_refused?: {
    count: number;
    since: number;
    latest: { kind: string; mac: string; flux_hour: string; status: number; message: string; at: number };
  };
}

/// A partial update: a missing key keeps the value, `null` clears it.
export type ConfigPatch = Partial<{
  push_enabled: boolean;
  acceptance: Acceptance;
  interface: string | null;
  offset_bp: number | null;
  offset_fixed_bytes: number | null;
  node: string | null;
  isp_id: number | null;
  device_type: number | null;
}>;

export interface MachineQuery {
  /** Part of the hostname, MAC, machine-id or an IP address. */
  q?: string;
  /** Exact agent version. */
  version?: string;
  node?: string;
  push_enabled?: boolean;
  state?: 'online' | 'offline';
  sort?: 'hostname' | 'last_seen' | 'mac' | 'node';
  order?: 'asc' | 'desc';
  page?: number;
  page_size?: number;
}

export interface HistoryRow {
  id: number;
  machine_id: number;
  node: string | null;
  hostname: string;
  mac: string;
  flux_hour: string;
  version: number;
  attempt: number;
  raw_bytes: number;
  pushed_bytes: number;
  raw_points: number[];
  pushed_points: number[];
  offset_bp: number;
  /** Fixed bytes per point the report was built with (0 from older agents). */
  offset_fixed_bytes: number;
  /** Points pushed as 0 because a push switch was off (bit i = point i; 0 from older agents). */
  off_slots: number;
  status: 'success' | 'failure';
  http_status: number | null;
  code: number | null;
  message: string | null;
  attempted_at: number;
  received_at: number;
}

export interface HistoryQuery {
  machine_id?: number;
  mac?: string;
  /** Part of the host name. */
  host?: string;
  node?: string;
  status?: 'success' | 'failure';
  from_hour?: string;
  to_hour?: string;
  sort?: 'attempted_at' | 'flux_hour' | 'pushed_bytes';
  order?: 'asc' | 'desc';
  page?: number;
  page_size?: number;
}

export interface CustomerProfile {
  base_url: string;
  report_path: string;
  query_path: string;
  access_id: string;
  /// Write-only: present only when an operator sets a new secret.
  secret?: string;
  secret_set?: boolean;
  day_format: string;
  hour_format: string;
  mac_format: string;
  batch_size: number;
  encoding: 'json' | 'line';
  line: LineFormat;
  auth: AuthSettings;
  answer: AnswerRule;
  query: QueryMapping;
}

/// The line encoding (customer-api.md profile 2).
export interface LineFormat {
  fields: string[];
  separator: string;
  lines_per_request: number;
  content_type: string;
}

export interface AuthSettings {
  signature: 'hmac-sha256' | 'none';
  access_id_header: string;
  static_headers: [string, string][];
  sequence_header: string;
}

/// What a customer's answer means (beyond HTTP 2xx).
export interface AnswerRule {
  result_field: string;
  ok_values: string[];
  invalid_values: string[];
  conflict_values: string[];
  ok_texts: string[];
  message_field: string;
}

/// Where the query answer keeps what.
export interface QueryMapping {
  mac_param: string;
  day_param: string;
  records_field: string;
  mac_field: string;
  hour_field: string;
  version_field: string;
  point_prefix: string;
}

/// A built-in profile the console offers (`GET /api/profile-presets`).
export interface ProfilePreset {
  id: string;
  name_zh: string;
  name_en: string;
  report_path: string;
  query_path: string;
  day_format: string;
  hour_format: string;
  mac_format: string;
  batch_size: number;
  encoding: CustomerProfile['encoding'];
  line: LineFormat;
  auth: AuthSettings;
  answer: AnswerRule;
  query: QueryMapping;
}

export interface AlertChannel {
  name: string;
  kind: ChannelKind;
  url: string;
  secret?: string | null;
  secret_set?: boolean;
}

export interface AlertSettings {
  channels: AlertChannel[];
  failure_threshold: number;
  offline_periods: number;
  renotify_hours: number;
  storm_percent: number;
  language: string;
  /** Conditions an agent reports are alerted after this many minutes. */
  health_after_minutes?: number;
  /** Hours waiting behind a push switch are alerted after this many hours; 0 = never. */
  push_held_after_hours?: number;
}

export interface GlobalConfig {
  version?: number;
  push_enabled: boolean;
  customer: CustomerProfile;
  provider_id: string;
  provider_uiid: string;
  isp_id: number;
  device_type: number;
  offset_bp: number;
  /** Bytes per 5-minute point (+/-), after the percentage. */
  offset_fixed_bytes?: number;
  billed_direction: BilledDirection;
  alerts: AlertSettings;
}

export interface VersionCount {
  version: string;
  count: number;
}

/// Hourly figures over a window of closed report hours (`YYYYMMDDHH` in the report time
/// zone), every hour present, oldest first.
export interface HourWindow<T> {
  report_timezone: string;
  from_hour: string;
  to_hour: string;
  hours: T[];
}

/// The fleet in one report hour: the latest successful attempt of each MAC counts once.
export interface FleetHour {
  flux_hour: string;
  pushed_bytes: number;
  raw_bytes: number;
  macs: number;
}

/// One machine in one report hour: bytes that reached the customer, how the latest attempt ended.
export interface MachineHour {
  flux_hour: string;
  pushed_bytes: number;
  raw_bytes: number;
  status: 'success' | 'failure' | null;
  attempts: number;
}

export interface Overview {
  deployed: number;
  online: number;
  offline: number;
  switched_off: number;
  under_acceptance: number;
  open_incidents: number;
  pushes_success: number;
  pushes_failure: number;
  agents_by_version: VersionCount[];
  /// `skipped`: hours not reported because a push switch was off (not failures).
  pushes_24h: { since: number; success: number; failure: number; held: number; skipped: number };
  traffic_24h: HourWindow<FleetHour>;
}

/// An hour the agent did not report because a push switch was off when it built it.
export interface SkippedHour {
  id: number;
  mac: string;
  flux_hour: string;
  reason: string;
  /// "machine", "global", "local"; empty when the agent did not say.
  switches: string[];
  /// Billed bytes the agent measured in the hour (no offset): never sent to the customer.
  raw_bytes: number;
  decided_at: number;
  received_at: number;
}

export interface MacChange {
  id: number;
  old_mac: string;
  new_mac: string;
  changed_at: number;
}

export interface Delivery {
  channel: string;
  status: string;
  attempts: number;
  last_error: string | null;
  sent_at: number | null;
}

export interface AlertRow {
  id: number;
  incident_id: number | null;
  kind: string;
  machine_id: number | null;
  title: string;
  body: string;
  created_at: number;
  deliveries: Delivery[];
}

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  entity: string;
  entity_id: string;
  field: string;
  old_value: string | null;
  new_value: string | null;
  /** The config level the change was made at; null for other entities. */
  level: OffsetLevel | null;
}

export type InventorySource = 'spug' | 'csv';

export interface InventoryRun {
  source: InventorySource;
  started_at: number;
  finished_at: number;
  ok: boolean;
  /// wrong_password, account_disabled, login_refused, token_refused, error_answer, unreachable, bad_answer, settings
  error_code: string | null;
  error: string | null;
  hosts: number;
  matched: number;
  changed: number;
  last_ok_at: number | null;
}

export interface InventoryState {
  configured: { kind: 'spug'; url: string; username: string; interval_secs: number; node_from: 'leaf' | 'path' } | null;
  runs: InventoryRun[];
  hosts: number;
  unmatched_hosts: number;
  unmatched_machines: number;
}

export interface InventoryHost {
  source: InventorySource;
  host_key: string;
  ops_host_id: string | null;
  name: string;
  management_ip: string | null;
  other_ips: string[];
  mac: string | null;
  node: string | null;
  /// Several groups (which one was used), a group that cannot be a node...
  note: string | null;
  machine_id: number | null;
  matched_by: 'manual' | 'ops_host_id' | 'management_ip' | 'ip' | 'mac' | null;
  unmatched_reason: string | null;
  seen_at: number;
}

export interface UnmatchedMachine {
  id: number;
  hostname: string;
  mac: string;
  ips: string[];
  node: string | null;
  last_seen_at: number;
}

export interface InventoryApplied {
  hosts: number;
  matched: number;
  changed: number;
}

export interface InventorySync extends InventoryApplied {
  ok: boolean;
  error_code: string | null;
  error: string | null;
}

export interface VerificationRow {
  id: number;
  machine_id: number;
  mac: string;
  flux_hour: string;
  version: number;
  matched: boolean;
  corrected: boolean;
  verified_at: number;
  message: string | null;
}

/// Settlement figures (docs/settlement.md): bytes exact, Mbps = bytes × 8 / 300 / 10^6.
export interface SettlementFigures {
  p95_bytes: number;
  p95_mbps: number;
  mean_day_p95_bytes: number;
  mean_day_p95_mbps: number;
  max_day_p95_bytes: number;
  max_day_p95_mbps: number;
  peak_bytes: number;
  peak_mbps: number;
  total_bytes: number;
  present: number;
  expected: number;
  days?: SettlementDay[];
}

export interface SettlementDay {
  day: string;
  p95_bytes: number;
  p95_mbps: number;
  peak_bytes: number;
  peak_mbps: number;
  total_bytes: number;
  present: number;
  expected: number;
}

export type CustomerStatus = 'confirmed' | 'mismatched' | 'unverified';

export interface SettlementRow {
  node: string;
  machine_id?: number;
  hostname?: string;
  macs?: string[];
  machines: number;
  raw: SettlementFigures;
  pushed: SettlementFigures;
  customer: {
    status: CustomerStatus;
    /// mismatched_without_values: hours found different by agents that send no customer points;
    /// extra: hours the customer holds that we never pushed.
    hours: { confirmed: number; mismatched: number; mismatched_without_values: number; unverified: number; extra: number };
    figures: SettlementFigures | null;
  };
  difference: { p95_bytes: number; mean_day_p95_bytes: number; max_day_p95_bytes: number; peak_bytes: number; total_bytes: number } | null;
}

export interface SettlementQuery {
  from?: string;
  to?: string;
  group_by?: 'machine' | 'node';
  node?: string;
  machine_id?: number;
}

export interface SettlementReport {
  from: string;
  to: string;
  report_timezone: string;
  group_by: 'machine' | 'node';
  days: string[];
  rows: SettlementRow[];
}

export interface SettlementSeries {
  from: string;
  to: string;
  report_timezone: string;
  first_slot_at: number;
  slot_secs: number;
  slots_per_day: number;
  row: SettlementRow | null;
  raw_bytes: number[];
  pushed_bytes: number[];
  present: number[];
  /// The customer's copy where the agents read it back (0 elsewhere), and where it is held.
  customer_bytes: number[];
  customer_present: number[];
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/// `node: ''` is a filter too (the machines without a node), which `queryString` would drop.
function settlementQuery(q: SettlementQuery): string {
  const text = queryString({ ...q });
  if (q.node !== '') return text;
  return text ? `${text}&node=` : '?node=';
}

/// Called when the service says the session is gone (401), so the app shows the login page.
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void) {
  onUnauthorized = handler;
}

/// A body sent as is (a file), with its content type.
export class RawBody {
  constructor(
    public contentType: string,
    public text: string,
  ) {}
}

/// `path` is the API path (`/api/...`); the service's base path goes in front.
async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    const raw = body instanceof RawBody;
    response = await fetch(basePath + path, {
      method,
      credentials: 'same-origin',
      // Every state-changing request says it comes from the console (a header a cross-site
      // form cannot send) and is JSON unless it is a raw upload.
      headers:
        method === 'GET'
          ? {}
          : { 'Content-Type': raw ? body.contentType : 'application/json', 'X-Requested-With': 'pushagent-console' },
      body: body === undefined ? undefined : raw ? body.text : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = json as { error?: string; message?: string } | undefined;
    if (response.status === 401 && path !== '/api/login') onUnauthorized();
    throw new ApiError(response.status, error?.error ?? 'http', error?.message ?? text.slice(0, 200));
  }
  return json as T;
}

export interface EnrollmentToken {
  id: number;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
}

export interface TestAlertResult {
  channel: string;
  ok: boolean;
  error?: string;
}

export const api = {
  login: (username: string, password: string) =>
    request<{ username: string }>('POST', '/api/login', { username, password }),
  logout: () => request<void>('POST', '/api/logout'),
  me: () => request<{ username: string }>('GET', '/api/me'),
  overview: () => request<Overview>('GET', '/api/overview'),
  agentVersions: () => request<VersionCount[]>('GET', '/api/machines/versions'),
  machines: (q: MachineQuery) => request<Page<Machine>>('GET', `/api/machines${queryString({ ...q })}`),
  machine: (id: number) => request<Machine>('GET', `/api/machines/${id}`),
  updateMachine: (id: number, patch: ConfigPatch) =>
    request<MachineConfig>('PATCH', `/api/machines/${id}/config`, patch),
  bulkUpdate: (machine_ids: number[], patch: ConfigPatch) =>
    request<{ updated: number }>('POST', '/api/machines/bulk', { machine_ids, patch }),
  nodes: () => request<{ items: NodeOffsets[] }>('GET', '/api/nodes'),
  setNodeOffsets: (node: string, offsets: { offset_bp: number | null; offset_fixed_bytes: number | null }) =>
    request<NodeOffsets>('PUT', `/api/nodes/${encodeURIComponent(node)}/offsets`, offsets),
  history: (q: HistoryQuery) => request<Page<HistoryRow>>('GET', `/api/history${queryString({ ...q })}`),
  /// The CSV of the filtered set (no paging): a link the browser downloads with the session cookie.
  historyCsvUrl: (q: HistoryQuery) => {
    const { page: _page, page_size: _size, ...filter } = q;
    return `${basePath}/api/history.csv${queryString(filter)}`;
  },
  globalConfig: () => request<GlobalConfig>('GET', '/api/global-config'),
  updateGlobalConfig: (doc: GlobalConfig) => request<GlobalConfig>('PUT', '/api/global-config', doc),
  profilePresets: () => request<ProfilePreset[]>('GET', '/api/profile-presets'),
  /// Send a test message to every saved alert channel now; each channel's answer.
  testAlert: () => request<{ results: TestAlertResult[] }>('POST', '/api/alerts/test', {}),
  alerts: (page: number, page_size: number) =>
    request<Page<AlertRow>>('GET', `/api/alerts${queryString({ page, page_size })}`),
  /// Newest first; one machine's when `machine_id` is given.
  verifications: (page: number, page_size: number, machine_id?: number) =>
    request<Page<VerificationRow>>('GET', `/api/verifications${queryString({ machine_id, page, page_size })}`),
  macHistory: (id: number, page: number, page_size: number) =>
    request<Page<MacChange>>('GET', `/api/machines/${id}/mac-history${queryString({ page, page_size })}`),
  /// Hours skipped with the push switch off, newest hour first.
  skippedHours: (id: number, page: number, page_size: number) =>
    request<Page<SkippedHour>>('GET', `/api/machines/${id}/skipped${queryString({ page, page_size })}`),
  /// The machine's last `hours` closed report hours (default 168 = 7 days).
  machineTraffic: (id: number, hours?: number) =>
    request<HourWindow<MachineHour>>('GET', `/api/machines/${id}/traffic${queryString({ hours })}`),
  /// Stored enrollment tokens (never their value) and whether the settings fix one too.
  enrollmentTokens: () =>
    request<{ items: EnrollmentToken[]; settings_token: boolean }>('GET', '/api/enrollment-tokens'),
  /// A new token, shown in this answer only; `revoke_others` rotates.
  createEnrollmentToken: (revoke_others: boolean) =>
    request<{ id: number; token: string; revoked: number[] }>('POST', '/api/enrollment-tokens', { revoke_others }),
  revokeEnrollmentToken: (id: number) =>
    request<{ id: number; revoked: boolean }>('POST', `/api/enrollment-tokens/${id}/revoke`, {}),
  audit: (page: number, page_size: number) =>
    request<Page<AuditRow>>('GET', `/api/audit${queryString({ page, page_size })}`),
  settlement: (q: SettlementQuery) => request<SettlementReport>('GET', `/api/settlement${settlementQuery(q)}`),
  /// One machine (`machine_id`) or node (`node`), slot by slot.
  settlementSeries: (q: SettlementQuery) =>
    request<SettlementSeries>('GET', `/api/settlement/series${settlementQuery(q)}`),
  /// The table as CSV or XLSX: a link the browser downloads with the session cookie.
  settlementExportUrl: (q: SettlementQuery, format: 'csv' | 'xlsx') => `/api/settlement.${format}${settlementQuery(q)}`,
  inventory: () => request<InventoryState>('GET', '/api/inventory'),
  inventoryHosts: (q: { source?: InventorySource; matched?: boolean; q?: string; page: number; page_size: number }) =>
    request<Page<InventoryHost>>('GET', `/api/inventory/hosts${queryString({ ...q })}`),
  unmatchedMachines: (page: number, page_size: number) =>
    request<Page<UnmatchedMachine>>('GET', `/api/inventory/unmatched-machines${queryString({ page, page_size })}`),
  /// `machine_id` null removes an operator's link.
  linkInventoryHost: (source: InventorySource, host_key: string, machine_id: number | null) =>
    request<InventoryApplied>('PUT', '/api/inventory/links', { source, host_key, machine_id }),
  syncInventory: () => request<InventorySync>('POST', '/api/inventory/sync', {}),
  importInventoryCsv: (csv: string) => request<InventoryApplied>('POST', '/api/inventory', new RawBody('text/csv; charset=utf-8', csv)),
};
