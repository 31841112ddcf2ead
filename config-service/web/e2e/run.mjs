// Browser end-to-end tests of the console: the real service binary, Debian's Chromium driven
// by playwright-core, agents registered through the agent API. Each test is a story an
// operator lives through; every wait is on a condition, never a fixed sleep.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { addAgent, addHistory, ADMIN, confirmDialog, launchBrowser, login, pushAttempt, reportHour, sendHeartbeat, startService, waitFor } from './support.mjs';

const tests = [];
const test = (name, fn) => tests.push({ name, fn });


test('a wrong password is refused with the service message, the right one logs in', async ({ page, service }) => {
  await page.goto(service.base + '/');
  await page.locator('#username').fill(ADMIN);
  await page.locator('#password').fill('not-the-password');
  await page.getByRole('button', { name: /登\s*录/ }).click();
  await page.getByTestId('login-error').getByText('wrong user name or password').waitFor();
  await page.locator('#password').fill('admin-password-1');
  await page.getByRole('button', { name: /登\s*录/ }).click();
  await page.getByTestId('who').getByText(ADMIN).waitFor();
  // zh-CN by default.
  await page.getByRole('menuitem', { name: '推送配置' }).waitFor();
});

test('the overview counts the agent a test registered', async ({ page, service }) => {
  await page.goto(service.base + '/overview');
  await page.getByTestId('stat-deployed').locator('.ant-statistic-content-value').getByText('3', { exact: true }).waitFor();
});

test('switching an agent off (confirmed) reaches the agent config', async ({ page, service, agents }) => {
  const agent = agents[0];
  await page.goto(service.base + '/machines');
  await page.getByRole('button', { name: agent.hostname }).waitFor();
  await page.getByTestId(`push-switch-${agent.id}`).click();
  await page.locator('.ant-modal-confirm-title', { hasText: `确认关闭 ${agent.hostname} 的推送？` }).waitFor();
  await confirmDialog(page);
  await waitFor('the agent config to say push off', async () => {
    const config = await service.api('GET', '/agent/config/', undefined, agent.token);
    return config.push_enabled === false;
  });
  await waitFor('the switch to show off', async () => (await page.getByTestId(`push-switch-${agent.id}`).getAttribute('aria-checked')) === 'false');
});

test('changing the global offset is saved and audited', async ({ page, service }) => {
  await page.goto(service.base + '/push-config');
  const offset = page.locator('#offset_percent');
  await offset.fill('2.5');
  // The alert delay of hours held by a switch is set here too; the other alert settings keep.
  const heldAfter = page.getByTestId('push-held-after-hours');
  assert.equal(await heldAfter.inputValue(), '24');
  await heldAfter.fill('48');
  await page.getByTestId('save-push-config').click();
  await confirmDialog(page);
  await waitFor('the offset to be stored', async () => (await service.api('GET', '/api/global-config')).offset_bp === 250);
  const alerts = (await service.api('GET', '/api/global-config')).alerts;
  assert.equal(alerts.push_held_after_hours, 48);
  assert.equal(alerts.health_after_minutes, 15);
  await page.getByRole('menuitem', { name: '审计日志' }).click();
  const row = page.locator('tr', { hasText: 'offset_bp' });
  await row.locator('.audit-change').getByText('250').waitFor();
  assert.match(await row.innerText(), /admin/);
});

test('a bad value is refused: by the form as the API would, and with the API message', async ({ page, service, agents }) => {
  // The local offset is checked in the form with the service's rule.
  await page.goto(service.base + '/machines');
  await page.getByTestId(`edit-${agents[1].id}`).click();
  await page.locator('#machine_offset').fill('-150');
  await page.getByRole('button', { name: /保\s*存/ }).click();
  await page.getByText('偏移量须大于 -100% 且不超过 1000%').waitFor();
  await page.getByRole('button', { name: /取\s*消/ }).click();
  // A path the service refuses: its own message is shown.
  await page.goto(service.base + '/push-config');
  await page.locator('#report_path').fill('report-without-slash');
  await page.getByTestId('save-push-config').click();
  await confirmDialog(page);
  await page.getByTestId('form-refusal').getByText('customer.report_path: "report-without-slash" must start with /', { exact: false }).waitFor();
  const stored = await service.api('GET', '/api/global-config');
  assert.notEqual(stored.customer.report_path, 'report-without-slash');
});

test('push history filters on the server and the CSV export holds the filtered rows', async ({ page, service, agents }) => {
  const agent = agents[2];
  await page.goto(service.base + '/history');
  const filter = page.getByTestId('history-filter');
  await filter.getByPlaceholder('MAC').fill(agent.mac);
  await filter.locator('.ant-select').first().click();
  await page.locator('.ant-select-item-option', { hasText: '失败' }).click();
  await filter.getByRole('button', { name: /查\s*询/ }).click();
  const expected = await service.api('GET', `/api/history?mac=${agent.mac}&status=failure&page_size=500`);
  assert.ok(expected.total >= 2, `seeded failures: ${expected.total}`);
  await page.getByText(`共 ${expected.total} 条`).waitFor();
  const rows = page.locator('.ant-table-tbody tr.ant-table-row');
  assert.equal(await rows.count(), expected.total);
  for (const text of await rows.allInnerTexts()) {
    assert.ok(text.includes(agent.mac) && text.includes('失败'), text);
  }
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(csv[0].split(',')[2], 'mac');
  const records = csv.slice(1).map((line) => line.split(','));
  assert.equal(records.length, expected.total);
  for (const record of records) {
    assert.equal(record[2], agent.mac);
    assert.equal(record[9], 'failure');
  }
  const pushed = records.map((r) => Number(r[7])).sort();
  assert.deepEqual(pushed, expected.items.map((i) => i.pushed_bytes).sort());

  // By part of the host name instead of the MAC: the same rows.
  await filter.getByPlaceholder('MAC').fill('');
  await filter.getByPlaceholder('主机名称').fill(agent.hostname.slice(1));
  await filter.getByRole('button', { name: /查\s*询/ }).click();
  const byHost = await service.api('GET', `/api/history?host=${encodeURIComponent(agent.hostname.slice(1))}&status=failure&page_size=500`);
  assert.equal(byHost.total, expected.total);
  await waitFor('only that host\'s failures', async () => {
    const texts = await rows.allInnerTexts();
    return texts.length === expected.total && texts.every((text) => text.includes(agent.hostname) && text.includes('失败'));
  });
});

test('a test alert reaches a local webhook and each channel answer is shown', async ({ page, service }) => {
  // A loopback webhook receiver of the test's own.
  const received = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ url: req.url, body: JSON.parse(body || 'null') });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"errcode":0}');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
    const global = await service.api('GET', '/api/global-config');
    await service.api('PUT', '/api/global-config', {
      ...global,
      alerts: { ...global.alerts, channels: [{ name: 'ops-webhook', kind: 'webhook', url: hook }] },
    });
    await page.goto(service.base + '/push-config');
    await page.getByTestId('test-alert').click();
    await page.getByTestId('test-alert-results').getByText('已送达').waitFor();
    await waitFor('the webhook to receive the test alert', async () => received.some((r) => r.body?.kind === 'test'));
    const got = received.find((r) => r.body?.kind === 'test');
    assert.equal(got.url, '/hook');
    assert.match(got.body.title, /测试告警/);
  } finally {
    receiver.close();
  }
});

test('English is one click away', async ({ page, service }) => {
  await page.goto(service.base + '/overview');
  await page.getByTestId('lang-switch').click();
  await page.getByRole('menuitem', { name: 'Push history' }).waitFor();
  await page.getByTestId('lang-switch').click();
  await page.getByRole('menuitem', { name: '推送历史' }).waitFor();
});

test('the overview shows the fleet figures of a known history, the drawer a MAC change and its checks', async ({ page, service, agents, seeded }) => {
  // A fourth agent with a story: hour 2 was re-pushed as version 2 (only v2 counts), hour 4
  // failed, hour 5 was held, then its NIC was swapped.
  const agent = await addAgent(service, { uid: 'uid-gz-cache-09', hostname: 'gz-cache-09', mac: '52:54:00:bb:00:09', version: '0.2.0' });
  const pushes = [
    pushAttempt(agent.mac, { ago: 1, raw: 7_000_001 }),
    pushAttempt(agent.mac, { ago: 2, raw: 7_000_002 }),
    pushAttempt(agent.mac, { ago: 2, version: 2, raw: 7_500_002 }),
    pushAttempt(agent.mac, { ago: 3, raw: 7_000_003 }),
    pushAttempt(agent.mac, { ago: 4, raw: 7_000_004, ok: false }),
  ];
  const now = Math.floor(Date.now() / 1000);
  await agent.post('/agent/history/', {
    pushes,
    held: [{ mac: agent.mac, flux_hour: reportHour(5), reason: 'v7 over the link speed', held_at: now - 600 }],
    verifications: [{ mac: agent.mac, flux_hour: reportHour(3), version: 1, matched: false, corrected: true, verified_at: now - 300, message: 'customer copy differed at v3; re-pushed' }],
  });
  const newMac = '52:54:00:bb:00:0a';
  await sendHeartbeat(service, agent.token, { hostname: agent.hostname, mac: newMac, version: '0.2.0' });

  // What the seeded history says, computed here from the seed, not asked of the service.
  const all = [...seeded, ...pushes];
  const latestOk = new Map();
  for (const p of all.filter((p) => p.status === 'success')) {
    const key = `${p.mac}/${p.flux_hour}`;
    const seen = latestOk.get(key);
    if (!seen || seen.version < p.version || (seen.version === p.version && seen.attempt < p.attempt)) latestOk.set(key, p);
  }
  const pushedIn = (hour) => [...latestOk.values()].filter((p) => p.flux_hour === hour).reduce((s, p) => s + p.pushed_bytes, 0);
  const total = [...latestOk.values()].reduce((s, p) => s + p.pushed_bytes, 0);
  const ok = all.filter((p) => p.status === 'success').length;
  const failed = all.length - ok;
  assert.equal(failed, 3, 'two seeded failures and this agent\'s one');

  await page.goto(service.base + '/overview');
  const stat = (id) => page.getByTestId(id).locator('.ant-statistic-content-value');
  await stat('stat-deployed').getByText('4', { exact: true }).waitFor();
  assert.equal(await stat('push-ok').innerText(), String(ok));
  assert.equal(await stat('push-failed').innerText(), String(failed));
  assert.equal(await stat('push-held').innerText(), '1');
  assert.equal(await page.getByTestId('traffic-total').locator('.bytes').getAttribute('data-bytes'), String(total));
  for (const ago of [1, 2, 3]) {
    const hour = reportHour(ago);
    const bar = page.getByTestId('fleet-traffic').locator(`.bar[data-id="${hour}"]`);
    assert.equal(await bar.getAttribute('data-value'), String(pushedIn(hour)), `fleet traffic of ${hour}`);
  }
  const versions = page.getByTestId('versions');
  assert.match(await versions.locator('tr', { hasText: '0.2.0' }).innerText(), /0\.2\.0\s+1/);
  assert.match(await versions.locator('tr', { hasText: '0.1.0' }).innerText(), /0\.1\.0\s+2/);

  await page.goto(service.base + '/machines');
  await page.getByRole('button', { name: agent.hostname }).click();
  const drawer = page.getByTestId('machine-drawer');
  const change = drawer.getByTestId('mac-history').locator('tr.ant-table-row');
  await change.first().waitFor();
  assert.equal(await change.count(), 1);
  const text = await change.innerText();
  assert.ok(text.includes(agent.mac) && text.includes(newMac), text);
  assert.ok(text.indexOf(agent.mac) < text.indexOf(newMac), `old before new: ${text}`);
  await drawer.getByTestId('machine-verifications').getByText('customer copy differed at v3; re-pushed').waitFor();
  const hour2 = drawer.getByTestId('week-traffic').locator(`.bar[data-id="${reportHour(2)}"]`);
  await hour2.waitFor();
  assert.equal(await hour2.getAttribute('data-value'), String(pushes[2].pushed_bytes), 'the re-pushed version 2 counts');
  assert.equal(await drawer.getByTestId('week-traffic').locator('.bar').count(), 168);
  await page.keyboard.press('Escape');
});

const service = await startService();
let failed = 0;
test('machines are filtered by agent version and found by IP on the server; another report time zone is flagged', async ({ page, service }) => {
  const agent = await addAgent(service, { uid: 'uid-v3-01', hostname: 'v3-edge-01', mac: '52:54:00:dd:00:01', version: '0.3.0' });
  await sendHeartbeat(service, agent.token, {
    hostname: agent.hostname,
    mac: agent.mac,
    version: '0.3.0',
    facts: { addresses: [{ interface: 'eth0', ipv4: [{ address: '203.0.113.77', prefix_len: 24 }] }] },
    reportTimezone: 'UTC+00:00',
  });
  await page.goto(service.base + '/machines');
  await page.getByTestId('version-filter').click();
  await page.locator('.ant-select-item-option', { hasText: '0.3.0' }).click();
  await page.getByRole('button', { name: /查\s*询/ }).click();
  await waitFor('only the 0.3.0 agent listed', async () => {
    const names = await page.locator('.ant-table-row').allInnerTexts();
    return names.length === 1 && names[0].includes('v3-edge-01');
  });
  await page.getByRole('button', { name: /重\s*置/ }).click();
  await page.getByPlaceholder('主机名 / MAC / IP / 机器 ID').fill('203.0.113.77');
  await page.getByRole('button', { name: /查\s*询/ }).click();
  await waitFor('the agent found by its IP', async () => {
    const names = await page.locator('.ant-table-row').allInnerTexts();
    return names.length === 1 && names[0].includes('v3-edge-01');
  });
  // It names its hours in UTC, the service in UTC+08:00: flagged.
  await page.getByTestId(`tz-mismatch-${agent.id}`).getByText('时区不一致').waitFor();
  assert.equal(await page.locator('[data-testid^="tz-mismatch-"]').count(), 1, 'only that agent is flagged');
});

test('a clone of a live machine (same /etc/machine-id, another NIC) is a machine of its own, marked', async ({ page, service }) => {
  const original = await addAgent(service, { uid: 'uid-image-01', hostname: 'img-01', mac: '52:54:00:cc:00:01' });
  const clone = await addAgent(service, { uid: 'uid-image-01', hostname: 'img-01-clone', mac: '52:54:00:cc:00:02' });
  assert.notEqual(clone.id, original.id, 'the clone does not take the live machine over');
  await page.goto(service.base + '/machines');
  await page.getByTestId(`duplicate-${clone.id}`).getByText('machine-id 重复').waitFor();
  await page.getByRole('button', { name: 'img-01', exact: true }).waitFor();
  assert.equal(await page.getByTestId(`duplicate-${original.id}`).count(), 0, 'the original is not marked');
  const stored = await service.api('GET', `/api/machines/${clone.id}`);
  assert.equal(stored.duplicate_of, original.id);
});

test('what an agent reports wrong shows on its row and in its drawer', async ({ page, service }) => {
  const agent = await addAgent(service, { uid: 'uid-sick-01', hostname: 'sick-01', mac: '52:54:00:ee:00:01' });
  const now = Math.floor(Date.now() / 1000);
  await sendHeartbeat(service, agent.token, {
    hostname: agent.hostname,
    mac: agent.mac,
    health: {
      interface_missing: { name: 'eth9', since: now - 600 },
      config_refused: { key: 'offset_bp', why: 'global offset -10000 basis points is out of range', since: now - 60 },
    },
  });
  await page.goto(service.base + '/machines');
  await page.getByTestId(`health-interface-${agent.id}`).getByText('接口不存在').waitFor();
  await page.getByTestId(`health-config-${agent.id}`).getByText('配置被拒绝').waitFor();
  await page.getByRole('button', { name: 'sick-01', exact: true }).click();
  const drawer = page.getByTestId('machine-drawer');
  await drawer.getByTestId('health-alert-interface').getByText(/eth9/).waitFor();
  await drawer.getByTestId('health-alert-config').getByText(/offset_bp/).waitFor();
  assert.equal(await page.locator('[data-testid^="health-settings-"]').count(), 0, 'only what it reported');
});

test('hours held by a switch and refused history show on the row and in the drawer', async ({ page, service }) => {
  const agent = await addAgent(service, { uid: 'uid-held-01', hostname: 'held-01', mac: '52:54:00:ee:00:03' });
  const now = Math.floor(Date.now() / 1000);
  await sendHeartbeat(service, agent.token, {
    hostname: agent.hostname,
    mac: agent.mac,
    health: {
      push_held_by_switch: { since: now - 3600, switches: ['machine'], hours_waiting: 3, corrections_waiting: 1, oldest_hour: '2026120608' },
      history_refused: {
        count: 2,
        since: now - 600,
        latest: { kind: 'verification', mac: agent.mac, flux_hour: '2026120610', status: 400, message: 'verifications[0].state: not a state', at: now - 60 },
      },
    },
  });
  await page.goto(service.base + '/machines');
  await page.getByTestId(`health-held-${agent.id}`).getByText('推送关闭待推送').waitFor();
  await page.getByTestId(`health-refused-${agent.id}`).getByText('历史被拒收').waitFor();
  await page.getByRole('button', { name: 'held-01', exact: true }).click();
  const drawer = page.getByTestId('machine-drawer');
  await drawer.getByTestId('health-alert-held').getByText(/推送已关闭（机器开关.*3 小时待推送（最早 2026120608，其中修正 1 个）/).waitFor();
  await drawer.getByTestId('health-alert-refused').getByText(/拒收了 2 条推送历史.*verification 2026120610（HTTP 400：verifications\[0\]\.state: not a state/).waitFor();
  // The switch's hours are a warning (deliberate), refused history an error.
  assert.match(await drawer.getByTestId('health-alert-held').getAttribute('class'), /ant-alert-warning/);
  assert.match(await drawer.getByTestId('health-alert-refused').getAttribute('class'), /ant-alert-error/);
  // Cleared on the agent: gone from the row.
  await sendHeartbeat(service, agent.token, { hostname: agent.hostname, mac: agent.mac, health: {} });
  await page.goto(service.base + '/machines');
  await page.getByRole('button', { name: 'held-01', exact: true }).waitFor();
  assert.equal(await page.getByTestId(`health-held-${agent.id}`).count(), 0);
  assert.equal(await page.getByTestId(`health-refused-${agent.id}`).count(), 0);
});

test('reports held for a missing setting say which on the row and in the drawer', async ({ page, service }) => {
  const agent = await addAgent(service, { uid: 'uid-unset-01', hostname: 'unset-01', mac: '52:54:00:ee:00:02' });
  const now = Math.floor(Date.now() / 1000);
  await sendHeartbeat(service, agent.token, {
    hostname: agent.hostname,
    mac: agent.mac,
    health: { settings_missing: { which: ['report.provider_id'], since: now - 300 } },
  });
  await page.goto(service.base + '/machines');
  await page.getByTestId(`health-settings-${agent.id}`).getByText('推送配置缺失').waitFor();
  await page.getByRole('button', { name: 'unset-01', exact: true }).click();
  const drawer = page.getByTestId('machine-drawer');
  await drawer.getByTestId('health-alert-settings').getByText(/report\.provider_id/).waitFor();
});

test('finance sets a node\'s and a machine\'s offsets; rows, drawer, history and audit show what applies and from where', async ({ page, service, agents }) => {
  const [web01, web02] = agents; // both in node bj-1
  await page.goto(service.base + '/machines');
  await page.getByTestId('node-offsets-open').click();
  const nodes = page.getByTestId('node-offsets');
  await nodes.getByTestId('node-edit-bj-1').click();
  const modal = page.locator('.ant-modal', { hasText: '节点偏移量：bj-1' });
  await modal.locator('#node_offset').fill('-2');
  await modal.getByTestId('node-fixed-direction').click();
  await page.locator('.ant-select-item-option', { hasText: '减少' }).click();
  await modal.locator('#node-fixed-mb').fill('1.5');
  await modal.getByRole('button', { name: /保\s*存/ }).click();
  await waitFor('the node offsets to be stored', async () => {
    const node = await service.api('GET', '/api/nodes/bj-1');
    return node.offset_bp === -200 && node.offset_fixed_bytes === -1_500_000;
  });
  // The agents of the node are served the node's offsets.
  const served = await service.api('GET', '/agent/config/', undefined, web01.token);
  assert.deepEqual([served.node_offset_bp, served.node_offset_fixed_bytes, served.offset_fixed_bytes], [-200, -1_500_000, undefined]);
  const nodeEffective = nodes.getByTestId('node-effective-bj-1');
  await nodeEffective.getByText('-1.5 MB/点').waitFor();
  assert.match(await nodeEffective.innerText(), /-2\.00%\s*节点/);
  await page.keyboard.press('Escape');

  // web-02's own fixed amount: 3 MB more per point; its percentage stays the node's.
  await page.getByTestId(`edit-${web02.id}`).click();
  const edit = page.locator('.ant-modal', { hasText: `机器配置：${web02.hostname}` });
  await edit.locator('#machine-fixed-mb').fill('3');
  await edit.getByRole('button', { name: /保\s*存/ }).click();
  await waitFor('the machine fixed amount to be stored', async () => {
    const config = await service.api('GET', '/agent/config/', undefined, web02.token);
    return config.offset_fixed_bytes === 3_000_000 && config.node_offset_bp === -200;
  });
  const row02 = page.getByTestId(`effective-offset-${web02.id}`);
  await row02.getByText('+3 MB/点').waitFor();
  assert.match(await row02.innerText(), /-2\.00%\s*节点\s*·\s*\+3 MB\/点\s*机器/);
  assert.match(await page.getByTestId(`effective-offset-${web01.id}`).innerText(), /-2\.00%\s*节点\s*·\s*-1\.5 MB\/点\s*节点/);
  await page.getByRole('button', { name: web02.hostname, exact: true }).click();
  const drawer = page.getByTestId('machine-drawer');
  assert.match(await drawer.getByTestId('drawer-effective-offset').innerText(), /\+3 MB\/点\s*机器/);
  await page.keyboard.press('Escape');

  // Push history shows the fixed amount each report was built with.
  const pushed = { ...pushAttempt(web02.mac, { ago: 8, raw: 10_000_000, offsetBp: -200 }), offset_fixed_bytes: 3_000_000 };
  pushed.pushed_points = pushed.pushed_points.map((p) => p + 3_000_000);
  pushed.pushed_bytes = pushed.pushed_points.reduce((a, b) => a + b, 0);
  await web02.post('/agent/history/', { pushes: [pushed] });
  const stored = (await service.api('GET', `/api/history?mac=${web02.mac}&from_hour=${pushed.flux_hour}&to_hour=${pushed.flux_hour}`)).items[0];
  assert.equal(stored.offset_fixed_bytes, 3_000_000);
  await page.goto(service.base + '/history');
  await page.getByTestId('history-filter').getByPlaceholder('MAC').fill(web02.mac);
  await page.getByTestId('history-filter').getByRole('button', { name: /查\s*询/ }).click();
  assert.match(await page.getByTestId(`history-offset-${stored.id}`).innerText(), /-2\.00%\s*\+3 MB\/点/);

  // Every change is in the audit log with its level.
  await page.getByRole('menuitem', { name: '审计日志' }).click();
  const nodeRow = page.locator('tr', { hasText: 'node_config bj-1' }).filter({ hasText: 'offset_fixed_bytes' });
  await nodeRow.locator('.audit-change').getByText('-1500000').waitFor();
  assert.match(await nodeRow.innerText(), /admin[\s\S]*节点/);
  const machineRow = page.locator('tr', { hasText: `machine_config ${web02.id}` }).filter({ hasText: 'offset_fixed_bytes' });
  await machineRow.locator('.audit-change').getByText('3000000').waitFor();
  assert.match(await machineRow.innerText(), /机器/);
});

const browser = await launchBrowser();
try {
  const agents = [
    await addAgent(service, { uid: 'uid-web-01', hostname: 'web-01', mac: '52:54:00:aa:00:01', node: 'bj-1' }),
    await addAgent(service, { uid: 'uid-web-02', hostname: 'web-02', mac: '52:54:00:aa:00:02', node: 'bj-1', ambiguous: true }),
    await addAgent(service, { uid: 'uid-db-01', hostname: 'db-01', mac: '52:54:00:aa:00:03', node: 'sh-2', version: '0.0.9' }),
  ];
  const seeded = [];
  for (const [i, agent] of agents.entries()) {
    const pushes = await addHistory(agent, {
      hours: Array.from({ length: 6 }, (_, k) => k + 1),
      perPointBytes: (ago) => 1_000_000 * (i + 1) + ago,
      failures: i === 2 ? [2, 4] : [],
    });
    seeded.push(...pushes);
  }
  const context = await browser.newContext({ locale: 'zh-CN', acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  for (const { name, fn } of tests) {
    const started = Date.now();
    try {
      if (!name.startsWith('a wrong password')) {
        const who = await page.getByTestId('who').count();
        if (!who) await login(page, service.base);
      }
      await fn({ page, service, agents, seeded });
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`);
      await page.screenshot({ path: `${service.dir}/../pushagent-e2e-failure-${tests.findIndex((t) => t.name === name)}.png` }).catch(() => {});
    }
  }
} finally {
  await browser.close();
  await service.stop();
}
console.log(failed ? `${failed} of ${tests.length} browser tests failed` : `all ${tests.length} browser tests passed`);
process.exit(failed ? 1 : 0);
