// Browser end-to-end test with nothing faked: the real reference customer, the real config
// service and the REAL agent binary (x240 demo clock: a report hour every 15 real seconds) on
// loopback. In Chromium an operator sees the agent register itself and its first pushed hours,
// switches its push off (confirmed), and the agent obeys: the next hour is `skipped_off` in
// its outbox and the customer receives nothing for it, while the hours before were received
// exactly as the agent built them. The agent mirrors the skipped hour to the config service,
// and the operator sees it in the machine's drawer (推送关闭跳过的小时: the hour, a grey
// 跳过（推送关闭） tag, the raw bytes the agent measured, the switch that was off); it is not
// a push attempt, so the push history does not list it. Every wait is on a condition with a
// bounded timeout.
//
// The skipped hour is read first where the agent records it, its outbox (`pushagent outbox
// --json`, read while the agent runs), then from the service and in the console.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { confirmDialog, launchBrowser, login, startService, waitFor } from './support.mjs';
import { HOUR_MS, collectedInterface, fluxHour, formatHour, startAgent, startCustomer } from './real-agent.mjs';

/// The agent's clock runs this many times faster: one report hour per 15 s, a 5-minute point
/// per 1.25 s. Its samples (every 60 agent seconds = 250 ms) and service rounds (every 60
/// agent seconds) stay far apart from the hour boundaries the test waits on.
const SCALE = 240;
const REAL_HOUR_MS = HOUR_MS / SCALE;
const ACCESS_ID = 'AK-e2e-obeys';
const SECRET = `SK-e2e-${process.pid}-${Date.now()}`;

const cleanups = [];
const cleanUp = async () => {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (e) {
      console.error(`cleanup: ${e}`);
    }
  }
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143)));
}

const NAME = 'the real agent registers, pushes, is switched off in the console and skips the next hour';
const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'pushagent-obeys-'));
let keepDir = false;
cleanups.push(() => !keepDir && rmSync(dir, { recursive: true, force: true }));
let page = null;
let agent = null;
let customer = null;
try {
  const service = await startService();
  cleanups.push(() => service.stop());
  customer = await startCustomer(dir, { accessId: ACCESS_ID, secret: SECRET });
  cleanups.push(() => customer.stop());
  // The customer's credentials and our ids come from the config service, as in production.
  const global = await service.api('GET', '/api/global-config');
  await service.api('PUT', '/api/global-config', {
    ...global,
    push_enabled: true,
    customer: { ...global.customer, base_url: customer.base, access_id: ACCESS_ID, secret: SECRET },
    provider_id: 'e2e-provider',
    provider_uiid: '00000000-0000-4000-8000-0000000000e2',
    isp_id: 1,
    device_type: 1,
    offset_bp: 250,
  });
  const iface = collectedInterface();
  agent = startAgent(dir, { serviceUrl: service.base, enrollToken: service.enrollToken, iface: iface.name, scale: SCALE, testName: 'agent-obeys.mjs' });
  cleanups.push(() => agent.stop());
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ locale: 'zh-CN' });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await login(page, service.base);

  // 1. The agent registered itself, under this host's name and its NIC's MAC.
  const host = readFileSync('/proc/sys/kernel/hostname', 'utf8').trim() || hostname();
  const machine = await waitFor(
    'the agent to register itself',
    async () => {
      agent.alive();
      const found = await service.api('GET', `/api/machines?q=${encodeURIComponent(host)}`);
      return found.items.find((m) => m.hostname === host);
    },
    30_000,
  );
  assert.equal(machine.mac, iface.mac);
  assert.equal(machine.config.push_enabled, true);
  await page.goto(service.base + '/machines');
  const machineRow = page.locator('tr.ant-table-row', { has: page.getByRole('button', { name: host, exact: true }) });
  await machineRow.getByText(iface.mac).waitFor();
  assert.equal(await page.getByTestId(`push-switch-${machine.id}`).getAttribute('aria-checked'), 'true');

  // 2. Its first hours are pushed to the customer and mirrored to the push history.
  const firstPush = await waitFor(
    'a pushed hour in the push history',
    async () => {
      agent.alive();
      const history = await service.api('GET', `/api/history?mac=${iface.mac}&status=success`);
      return history.items.at(-1);
    },
    6 * REAL_HOUR_MS,
  );
  await page.getByRole('menuitem', { name: '推送历史' }).click();
  const filter = page.getByTestId('history-filter');
  await filter.getByPlaceholder('MAC').fill(iface.mac);
  await filter.getByRole('button', { name: /查\s*询/ }).click();
  const historyRow = page
    .locator('.ant-table-tbody tr.ant-table-row', { hasText: formatHour(firstPush.flux_hour) })
    .filter({ has: page.getByText('成功', { exact: true }) })
    .first();
  await historyRow.waitFor();
  assert.match(await historyRow.innerText(), new RegExp(`${host}[\\s\\S]*${iface.mac}`));
  const received = (await customer.dump()).records.find((r) => r.mac === iface.mac && r.flux_hour === firstPush.flux_hour);
  assert.ok(received, `the customer holds ${firstPush.flux_hour}`);
  assert.deepEqual(
    Array.from({ length: 12 }, (_, i) => received[`v${i}`]),
    firstPush.pushed_points,
    'the customer holds what the history says was pushed',
  );

  // 3. The operator switches its push off (confirmed).
  await page.goto(service.base + '/machines');
  await page.getByTestId(`push-switch-${machine.id}`).click();
  await page.locator('.ant-modal-confirm-title', { hasText: `确认关闭 ${host} 的推送？` }).waitFor();
  await confirmDialog(page);
  await waitFor('the switch to show off', async () => (await page.getByTestId(`push-switch-${machine.id}`).getAttribute('aria-checked')) === 'false', 30_000);
  const offAt = Date.now();
  const stored = await service.api('GET', `/api/machines/${machine.id}`);
  assert.equal(stored.config.push_enabled, false);

  // 4. The agent obeys: the first hour that starts after the click is skipped_off.
  const skippedStart = Math.ceil(agent.clockAtMost(offAt) / HOUR_MS) * HOUR_MS;
  const skippedHour = fluxHour(skippedStart);
  const skipped = await waitFor(
    `hour ${skippedHour} (the first to start after the switch-off) in the agent's outbox`,
    async () => {
      agent.alive();
      return (await agent.outbox()).find((r) => r.mac === iface.mac && r.flux_hour === skippedHour);
    },
    4 * REAL_HOUR_MS,
  );
  assert.equal(skipped.state, 'skipped_off', JSON.stringify(skipped));
  assert.equal(skipped.attempts, 0);
  const outbox = await agent.outbox();
  for (const r of outbox.filter((r) => r.hour_start_ms >= skippedStart)) {
    assert.equal(r.state, 'skipped_off', `built after the switch-off: ${JSON.stringify(r)}`);
  }
  // Everything it sent before was received exactly (the agent was really pushing) ...
  const sent = outbox.filter((r) => r.state === 'sent');
  assert.ok(sent.length >= 1 && sent.some((r) => r.flux_hour === firstPush.flux_hour), JSON.stringify(outbox));
  const customerHas = (await customer.dump()).records.filter((r) => r.mac === iface.mac);
  for (const r of sent) {
    const got = customerHas.find((c) => c.flux_hour === r.flux_hour);
    assert.ok(got, `the customer holds sent hour ${r.flux_hour}`);
    assert.equal(got.version, r.version);
    assert.deepEqual(Array.from({ length: 12 }, (_, i) => got[`v${i}`]), r.pushed, `hour ${r.flux_hour}`);
  }
  // ... and nothing from the skipped hour on: not at the customer, not in the push history.
  assert.deepEqual(customerHas.filter((c) => c.flux_hour >= skippedHour).map((c) => c.flux_hour), []);
  const history = await service.api('GET', `/api/history?mac=${iface.mac}&page_size=500`);
  assert.deepEqual(history.items.filter((h) => h.flux_hour >= skippedHour).map((h) => h.flux_hour), []);

  // 5. The agent told the service: the skipped hour, once, with the raw bytes it measured.
  const rawOf = (r) => r.raw.reduce((a, b) => a + b, 0);
  const mirrored = await waitFor(
    `hour ${skippedHour} among the machine's skipped hours at the service`,
    async () => {
      agent.alive();
      const list = await service.api('GET', `/api/machines/${machine.id}/skipped?page_size=100`);
      return list.items.find((s) => s.flux_hour === skippedHour) && list;
    },
    4 * REAL_HOUR_MS,
  );
  const skippedRow = mirrored.items.find((s) => s.flux_hour === skippedHour);
  assert.equal(mirrored.items.filter((s) => s.flux_hour === skippedHour).length, 1, 'mirrored once');
  assert.equal(skippedRow.mac, iface.mac);
  assert.equal(skippedRow.reason, 'switched_off');
  assert.deepEqual(skippedRow.switches, ['machine']);
  assert.equal(skippedRow.raw_bytes, rawOf(skipped), 'the raw bytes of the agent\'s outbox');
  // An hour that started before the click but was built after it is skipped too: whatever the
  // service lists is exactly a skipped_off hour of the agent's outbox, with its raw bytes.
  const outboxNow = await agent.outbox();
  for (const s of mirrored.items) {
    const mine = outboxNow.find((r) => r.mac === s.mac && r.flux_hour === s.flux_hour);
    assert.equal(mine?.state, 'skipped_off', `service lists ${s.flux_hour}: ${JSON.stringify(mine)}`);
    assert.equal(s.raw_bytes, rawOf(mine), `raw bytes of ${s.flux_hour}`);
  }

  // 6. The console agrees: the switch stays off, the drawer lists the skipped hour, and no
  // push of it is in the push history.
  await page.reload();
  await page.getByRole('button', { name: host, exact: true }).waitFor();
  assert.equal(await page.getByTestId(`push-switch-${machine.id}`).getAttribute('aria-checked'), 'false');
  await page.getByRole('button', { name: host, exact: true }).click();
  const drawer = page.getByTestId('machine-drawer');
  await drawer.getByText('推送关闭跳过的小时').waitFor();
  const skippedLine = drawer.getByTestId('skipped-hours').locator('tr.ant-table-row', { hasText: formatHour(skippedHour) });
  await skippedLine.waitFor();
  const line = await skippedLine.innerText();
  assert.ok(line.includes('跳过（推送关闭）') && line.includes('机器开关'), line);
  assert.equal(
    await skippedLine.locator('.bytes').getAttribute('data-bytes'),
    String(rawOf(skipped)),
    'the drawer shows the raw bytes the agent measured',
  );
  await page.keyboard.press('Escape');
  await drawer.waitFor({ state: 'hidden' });
  await page.getByRole('menuitem', { name: '推送历史' }).click();
  await page.getByTestId('history-filter').getByPlaceholder('MAC').fill(iface.mac);
  await page.getByTestId('history-filter').getByRole('button', { name: /查\s*询/ }).click();
  await page.getByText(`共 ${history.total} 条`).waitFor();
  assert.equal(await page.locator('.ant-table-tbody tr.ant-table-row', { hasText: formatHour(skippedHour) }).count(), 0);
  console.log(
    `ok   ${NAME} (${Date.now() - started} ms; ${sent.length} hour(s) pushed, ${skippedHour} skipped_off, x${SCALE} clock)`,
  );
} catch (e) {
  process.exitCode = 1;
  console.log(`FAIL ${NAME}\n     ${String(e?.stack ?? e).split('\n').slice(0, 8).join('\n     ')}`);
  if (page) await page.screenshot({ path: join(dir, 'failure.png') }).catch(() => {});
  for (const [what, log] of [['agent', agent?.log], ['customer', customer?.log]]) {
    if (log && existsSync(log)) {
      console.log(`---- ${what} log (last 40 lines)\n${readFileSync(log, 'utf8').trim().split('\n').slice(-40).join('\n')}`);
    }
  }
  if (process.env.KEEP_E2E_DIR) {
    keepDir = true;
    console.log(`     kept ${dir} (failure.png, logs, state)`);
  }
} finally {
  await cleanUp();
}
