// Shared by the browser tests and the screenshot script: a real `pushagent-config` binary on
// a loopback port with a fresh store, agents registered through the agent API, and Chromium.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
export const ADMIN = 'admin';
export const ADMIN_PASSWORD = 'admin-password-1';

/// A debug binary of the workspace, in CARGO_TARGET_DIR (default: target/; relative to the
/// repository, as cargo takes it from tests/web/run.sh) unless `envVar` names another path.
export function targetBinary(name, envVar) {
  const target = resolve(REPO, process.env.CARGO_TARGET_DIR || 'target');
  const bin = (envVar && process.env[envVar]) || join(target, 'debug', name);
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build --bin ${name} first`);
  return bin;
}

export function binaryPath() {
  return targetBinary('pushagent-config', 'PUSHAGENT_CONFIG_BIN');
}

/// The report hour (YYYYMMDDHH, UTC+08:00) `hoursAgo` hours before now.
export function reportHour(hoursAgo) {
  const d = new Date(Date.now() + 8 * 3600_000 - hoursAgo * 3600_000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}`;
}

/// Wait for `condition` (async, truthy = done), polling; fails after `timeoutMs`.
export async function waitFor(what, condition, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/// Click OK in the open confirmation dialog, once its opening animation is over: a click
/// while antd's zoom-in still moves the button can miss it (seen on a loaded machine).
export async function confirmDialog(page) {
  const modal = page.locator('.ant-modal-confirm').last();
  await modal.waitFor();
  await waitFor('the confirmation dialog to finish opening', async () => !/ant-zoom-(appear|enter)/.test((await modal.getAttribute('class')) ?? ''));
  await modal.locator('.ant-modal-confirm-btns .ant-btn-primary').click();
}

/// `reuseDir`: serve an existing store (made by an earlier startService({ keep: true })).
/// `settingsToml`: a settings file for the service (e.g. base_path); `basePath`: the
/// base_path it sets, so `service.root` (base + base path) is where console and API live.
export async function startService({ keep = false, reuseDir = null, settingsToml = null, basePath = '' } = {}) {
  const bin = binaryPath();
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), 'pushagent-web-'));
  const configArgs = [];
  if (settingsToml) {
    writeFileSync(join(dir, 'settings.toml'), settingsToml);
    configArgs.push('--config', join(dir, 'settings.toml'));
  }
  const env = {
    ...process.env,
    PUSHAGENT_DB_PATH: join(dir, 'config.sqlite'),
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };
  const run = (args, input) => {
    const out = spawnSync(bin, [...configArgs, ...args], { env, input, encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`${bin} ${args.join(' ')}: ${out.stderr}`);
    return out.stdout.trim();
  };
  if (!reuseDir) run(['user', 'add', ADMIN], `${ADMIN_PASSWORD}\n`);
  const apiToken = run(['token', 'create', `e2e-${Date.now()}`]);
  const enrollToken = run(['enroll-token', 'create']);
  const child = spawn(bin, [...configArgs, 'serve', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolvePromise, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on (http:\/\/\S+)/);
      if (match) resolvePromise(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`pushagent-config serve exited with ${code}`)));
  });
  /// Like `run`, without blocking this process (a loopback receiver here must answer).
  const runAsync = (args) =>
    new Promise((resolvePromise, reject) => {
      const job = spawn(bin, [...configArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      job.stdout.on('data', (c) => (stdout += c));
      job.stderr.on('data', (c) => (stderr += c));
      job.on('exit', (code) => (code === 0 ? resolvePromise(stdout.trim()) : reject(new Error(`${args.join(' ')}: ${stderr}`))));
    });
  const service = {
    base,
    root: base + basePath,
    dir,
    apiToken,
    enrollToken,
    run,
    runAsync,
    async api(method, path, body, token = apiToken) {
      const response = await fetch(base + basePath + path, {
        method,
        // Every state-changing request is JSON, with or without a body (the service refuses others).
        headers: { Authorization: `Bearer ${token}`, ...(method !== 'GET' ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await response.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return json;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  return service;
}

/// Register an agent as the real one does, heartbeat it, and return its token and admin id.
export async function addAgent(service, { uid, hostname, mac, version = '0.1.0', ambiguous = false, node = null }) {
  const post = (path, body, token) =>
    fetch((service.root ?? service.base) + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
      return r.json();
    });
  const registered = await post('/agent/register', {
    enrollment_token: service.enrollToken,
    machine_id: uid,
    hostname,
    mac,
    agent_version: version,
    facts: { hostname, machine_id: uid, interface: { name: 'eth0', mac, speed_mbps: 10000 } },
  });
  const token = registered.agent_token;
  await sendHeartbeat(service, token, { hostname, mac, version, ambiguous });
  const page = await service.api('GET', `/api/machines?q=${encodeURIComponent(hostname)}`);
  const id = page.items.find((m) => m.hostname === hostname).id;
  if (node) await service.api('PATCH', `/api/machines/${id}/config`, { node });
  return { token, id, mac, hostname, post: (path, body) => post(path, body, token) };
}

/// A heartbeat as the agent sends it; a new `mac` is how the service learns of a MAC change.
/// `facts`: a `pushagent info` object (sent as changed facts), or null.
export async function sendHeartbeat(service, token, { hostname, mac, version = '0.1.0', ambiguous = false, facts = null, reportTimezone = 'UTC+08:00', health = undefined }) {
  const response = await fetch((service.root ?? service.base) + '/agent/heartbeat', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      agent_version: version,
      mac,
      hostname,
      interfaces: [
        { name: 'eth0', mac, physical: true },
        { name: 'eth1', mac: mac.replace(/..$/, 'fe'), physical: true },
        { name: 'bond0', mac, physical: false },
        { name: 'docker0', mac: null, physical: false },
      ],
      chosen_interface: 'eth0',
      ambiguous,
      backlog: { outbox_hours: 0, history_items: 0, held_hours: 0 },
      last_push: null,
      agent_time: Math.floor(Date.now() / 1000),
      facts,
      report_timezone: reportTimezone,
      health,
    }),
  });
  if (!response.ok) throw new Error(`/agent/heartbeat: ${response.status} ${await response.text()}`);
  return response.json();
}

/// One push attempt as the agent mirrors it: `raw` bytes in each of the 12 points, the offset applied.
export function pushAttempt(mac, { ago, version = 1, attempt = 1, raw, offsetBp = 300, ok = true }) {
  const pushed = Math.round((raw * (10_000 + offsetBp)) / 10_000);
  return {
    mac,
    flux_hour: reportHour(ago),
    version,
    attempt,
    raw_bytes: raw * 12,
    pushed_bytes: pushed * 12,
    raw_points: Array(12).fill(raw),
    pushed_points: Array(12).fill(pushed),
    offset_bp: offsetBp,
    status: ok ? 'success' : 'failure',
    http_status: ok ? 200 : 503,
    code: ok ? 0 : 50001,
    message: ok ? null : 'HTTP 503: customer API unavailable',
    attempted_at: Math.floor(Date.now() / 1000) - (ago - 1) * 3600 - 120 + version * 10 + attempt,
  };
}

/// Push history as the agent mirrors it: one item per hour, `failures` = hoursAgo values that
/// failed. Returns the items sent.
export async function addHistory(agent, { hours, perPointBytes, failures = [], offsetBp = 300 }) {
  const pushes = hours.map((ago) => {
    const item = pushAttempt(agent.mac, { ago, raw: perPointBytes(ago), offsetBp, ok: !failures.includes(ago) });
    return { ...item, attempted_at: Math.floor(Date.now() / 1000) - (ago - 1) * 3600 - 120 };
  });
  await agent.post('/agent/history/', { pushes, verifications: [], held: [] });
  return pushes;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export async function login(page, base) {
  await page.goto(base + '/');
  await page.locator('#username').fill(ADMIN);
  await page.locator('#password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: /登\s*录|Log in/ }).click();
  await page.getByTestId('who').waitFor();
}
