// The console on the ops platform's origin: the service under base_path = "/pushagent" with the
// Spug theme, as the platform's nginx puts it. Pages, deep links, assets, the API and the agent
// API all work under the base path; the inventory page imports a CSV, shows a failing platform
// sync, and an operator links a host by hand. Every wait is on a condition.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { addAgent, confirmDialog, launchBrowser, login, REPO, sendHeartbeat, startService, waitFor } from './support.mjs';

// A port nothing listens on: the platform "unreachable".
const closedPort = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});

const BASE = '/pushagent';
const service = await startService({
  basePath: BASE,
  settingsToml: `base_path = "${BASE}"
console_theme = "spug"
[inventory]
kind = "spug"
url = "http://127.0.0.1:${closedPort}"
username = "pushagent"
password = "spug-password-1"
interval_secs = 3600
timeout_secs = 2
`,
});
const browser = await launchBrowser();
let failed = 0;
const step = async (name, fn) => {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`);
  }
};
try {
  const agents = [
    await addAgent(service, { uid: 'uid-bp-01', hostname: 'localhost', mac: '52:54:00:bb:00:01' }),
    await addAgent(service, { uid: 'uid-bp-02', hostname: 'centos', mac: '52:54:00:bb:00:02' }),
  ];
  const addresses = (ip) => ({ addresses: [{ name: 'eth0', ipv4: [{ address: ip, prefix: 24 }] }] });
  await sendHeartbeat(service, agents[0].token, { hostname: 'localhost', mac: agents[0].mac, facts: addresses('203.0.113.21') });
  await sendHeartbeat(service, agents[1].token, { hostname: 'centos', mac: agents[1].mac, facts: addresses('10.9.0.22') });
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const requests = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));

  await step('the console logs in under the base path, with its assets and API there', async () => {
    await login(page, service.root);
    await page.getByRole('menuitem', { name: '推送配置' }).waitFor();
    assert.ok(requests.length > 0);
    // (Chromium may ask /favicon.ico on its own before it reads the page's icon link.)
    const outside = requests.filter((p) => !p.startsWith(BASE + '/') && p !== '/favicon.ico');
    assert.deepEqual(outside, [], 'every request stays under the base path');
    assert.ok(requests.some((p) => p.startsWith(`${BASE}/assets/`)));
    assert.ok(requests.some((p) => p === `${BASE}/api/me`));
  });

  await step('the Spug theme: primary #2563fc, dark side menu, 48 px header', async () => {
    const header = page.locator('.ant-layout-header');
    assert.equal(await header.getAttribute('data-theme'), 'spug');
    assert.equal(Math.round((await header.boundingBox()).height), 48);
    const sider = await page.locator('.ant-layout-sider').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(sider, 'rgb(0, 21, 41)');
    await page.getByRole('menuitem', { name: 'Agent 管理' }).click();
    await waitFor('the machines page', async () => new URL(page.url()).pathname === `${BASE}/machines`);
    const selected = await page.locator('.ant-menu-item-selected').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(selected, 'rgb(37, 99, 252)');
  });

  await step('a deep link under the base path opens its page', async () => {
    await page.goto(`${service.root}/inventory`);
    await page.getByText('资产同步（主机名称与节点）').waitFor();
  });

  await step('a platform that cannot be reached is shown on the inventory page and alerted', async () => {
    await page.getByTestId('inventory-error').getByText('无法连接运维平台').waitFor();
    const alerts = await service.api('GET', '/api/alerts');
    assert.ok(alerts.items.some((a) => a.title === '资产同步失败'), JSON.stringify(alerts.items.map((a) => a.title)));
    // Sync now: the same refusal, shown at once, and the page does not break.
    await page.getByTestId('inventory-sync').click();
    await page.locator('.ant-modal-confirm-title', { hasText: '同步失败' }).waitFor();
    await confirmDialog(page);
  });

  await step('a bad CSV is refused whole, naming row and column', async () => {
    await page.locator('input[type=file]').setInputFiles({
      name: 'bad.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('host_name,ip,node\nbj-01,203.0.113.21,北京-联通\nsh-02,10.9.0.300,上海-电信\n'),
    });
    await page.locator('.ant-modal-confirm-content', { hasText: 'row 3, ip' }).waitFor();
    await confirmDialog(page);
    assert.equal((await service.api('GET', '/api/inventory')).hosts, 0);
  });

  await step('a CSV import names a machine; an operator links the unmatched host', async () => {
    await page.locator('input[type=file]').setInputFiles({
      name: 'hosts.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('host_name,ip,node\nbj-cu-21,203.0.113.21,北京-联通\nsh-ct-22,198.51.100.22,上海-电信\n'),
    });
    await page.getByTestId('inventory-summary').getByText('主机 2 台，未匹配主机 1 台，未匹配机器 1 台').waitFor();
    await waitFor('the machine to get its node', async () => (await service.api('GET', `/api/machines/${agents[0].id}`)).config.node === '北京-联通');
    await page.getByTestId('link-198.51.100.22').click();
    await page.getByTestId('link-machine').click();
    await page.locator('.ant-select-item-option', { hasText: 'centos' }).click();
    await page.locator('.ant-modal-footer .ant-btn-primary').click();
    await page.getByTestId('inventory-summary').getByText('主机 2 台，未匹配主机 0 台，未匹配机器 0 台').waitFor();
    await waitFor('the linked machine to get its node', async () => (await service.api('GET', `/api/machines/${agents[1].id}`)).config.node === '上海-电信');
    const audit = await service.api('GET', '/api/audit?page_size=100');
    assert.ok(audit.items.some((r) => r.actor === 'inventory:csv' && r.field === 'node'));
    assert.ok(audit.items.some((r) => r.entity === 'inventory_link' && r.actor === 'admin'));
  });

  await step('screenshot of the inventory page in the Spug theme', async () => {
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.getByRole('tab', { name: /全部主机/ }).click();
    await page.getByTestId('inventory-hosts').getByText('sh-ct-22').waitFor();
    await page.mouse.move(0, 0);
    await waitFor('the toasts to go', async () => (await page.locator('.ant-message-notice').count()) === 0);
    await page.screenshot({ path: join(REPO, 'docs/screenshots/inventory-spug-theme.png'), fullPage: true, animations: 'disabled' });
    console.log('wrote docs/screenshots/inventory-spug-theme.png');
  });
} finally {
  await browser.close();
  await service.stop();
}
console.log(failed ? `${failed} base-path browser tests failed` : 'all base-path browser tests passed');
process.exit(failed ? 1 : 0);
