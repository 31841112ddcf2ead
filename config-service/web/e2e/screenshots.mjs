// A zh-CN screenshot of every console page, into docs/screenshots/, over a seeded fleet
// (agents through the agent API, alerts from a real `runcheck` delivered to a loopback webhook).
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { addAgent, addHistory, launchBrowser, login, REPO, reportHour, sendHeartbeat, startService } from './support.mjs';

const out = join(REPO, 'docs', 'screenshots');
mkdirSync(out, { recursive: true });

const received = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    received.push(body);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"errcode":0}');
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

const service = await startService();
const browser = await launchBrowser();
try {
  const global = await service.api('GET', '/api/global-config');
  const { secret_set: _s, ...customer } = global.customer;
  await service.api('PUT', '/api/global-config', {
    ...global,
    push_enabled: true,
    customer: { ...customer, base_url: 'http://127.0.0.1:8780', access_id: 'ak-demo-001', secret: 'demo-secret' },
    provider_id: 'P1001',
    provider_uiid: 'U-20001',
    isp_id: 3,
    device_type: 1,
    offset_bp: 300,
    alerts: { ...global.alerts, channels: [{ name: 'ops-webhook', kind: 'webhook', url: hookUrl }] },
  });
  const fleet = [
    ['bj-web-01', '52:54:00:10:00:01', 'bj-1', '0.1.0'],
    ['bj-web-02', '52:54:00:10:00:02', 'bj-1', '0.1.0'],
    ['bj-cdn-03', '52:54:00:10:00:03', 'bj-1', '0.1.0'],
    ['sh-cdn-01', '52:54:00:20:00:01', 'sh-2', '0.1.0'],
    ['sh-cdn-02', '52:54:00:20:00:02', 'sh-2', '0.0.9'],
    ['gz-edge-01', '52:54:00:30:00:01', 'gz-1', '0.0.9'],
  ];
  const agents = [];
  for (const [i, [hostname, mac, node, version]] of fleet.entries()) {
    agents.push(await addAgent(service, { uid: `uid-${hostname}`, hostname, mac, node, version, ambiguous: i === 2 }));
  }
  // A daily curve: more traffic in the evening (report hours), per machine.
  const curve = (i) => (ago) => {
    const hour = Number(reportHour(ago).slice(8, 10));
    return Math.round((40 + 35 * Math.sin(((hour - 14) / 24) * 2 * Math.PI) + i * 5) * 1_000_000);
  };
  for (const [i, agent] of agents.entries()) {
    const hours = Array.from({ length: i === 0 ? 7 * 24 : 30 }, (_, k) => k + 1);
    for (let start = 0; start < hours.length; start += 200) {
      await addHistory(agent, {
        hours: hours.slice(start, start + 200),
        perPointBytes: curve(i),
        failures: i === 4 ? [1, 2, 3] : i === 5 ? [7] : [],
        offsetBp: i === 1 ? 500 : 300,
      });
    }
  }
  await agents[0].post('/agent/history/', {
    pushes: [],
    held: [],
    verifications: [3, 4, 5].map((ago) => ({
      mac: agents[0].mac,
      flux_hour: reportHour(ago),
      version: 1,
      matched: ago !== 4,
      corrected: ago === 4,
      verified_at: Math.floor(Date.now() / 1000) - 600,
      message: ago === 4 ? 'customer copy differed at v7; re-pushed as version 2' : null,
    })),
  });
  // One hour of gz-edge-01 held for an operator (a point over the link speed).
  await agents[5].post('/agent/history/', {
    pushes: [],
    verifications: [],
    held: [{ mac: agents[5].mac, flux_hour: reportHour(9), reason: 'v4 exceeds the 10 Gbit/s link speed', held_at: Math.floor(Date.now() / 1000) - 8 * 3600 }],
  });
  // sh-cdn-01 was switched off once before (its history covers the last 30 hours): its agent
  // built three hours with the switch off and reported them as skipped, with the raw bytes.
  await agents[3].post('/agent/history/', {
    skipped: [31, 32, 33].map((ago) => ({
      mac: agents[3].mac,
      flux_hour: reportHour(ago),
      reason: 'switched_off',
      switches: ['machine'],
      raw_bytes: curve(3)(ago) * 12,
      decided_at: Math.floor(Date.now() / 1000) - (ago - 1) * 3600 + 90,
    })),
  });
  // bj-web-01's NIC was swapped: the drawer shows the MAC change.
  await sendHeartbeat(service, agents[0].token, { hostname: 'bj-web-01', mac: '52:54:00:10:00:11' });
  // gz-edge-01 names its hours in UTC (the service: UTC+08:00), and bj-cdn-03's image was
  // cloned onto a new box: the machine table flags both.
  await sendHeartbeat(service, agents[5].token, { hostname: 'gz-edge-01', mac: '52:54:00:30:00:01', version: '0.0.9', reportTimezone: 'UTC+00:00' });
  await addAgent(service, { uid: 'uid-bj-cdn-03', hostname: 'bj-cdn-03-clone', mac: '52:54:00:10:00:33', node: 'bj-1' });
  await service.api('PATCH', `/api/machines/${agents[3].id}/config`, { push_enabled: false });
  await service.api('PATCH', `/api/machines/${agents[5].id}/config`, { acceptance: 'under_acceptance', offset_bp: -150 });
  console.log(await service.runAsync(['runcheck']));

  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const shot = async (name) => {
    await page.locator('.ant-spin-spinning, .ant-skeleton').first().waitFor({ state: 'detached' }).catch(() => {});
    await page.locator('.ant-table-placeholder .ant-spin, .ant-table .ant-spin-spinning').first().waitFor({ state: 'detached' }).catch(() => {});
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true, animations: 'disabled' });
    console.log(`wrote docs/screenshots/${name}.png`);
  };

  await page.goto(service.base + '/');
  await page.locator('#username').waitFor();
  await shot('01-login');
  await login(page, service.base);
  await page.goto(service.base + '/overview');
  await page.getByTestId('stat-deployed').waitFor();
  await page.locator('.bar-chart').first().waitFor();
  await shot('02-overview');
  await page.goto(service.base + '/push-config');
  await page.getByTestId('push-config-form').waitFor();
  await shot('03-push-config');
  await page.goto(service.base + '/machines');
  await page.getByRole('button', { name: 'bj-web-01' }).waitFor();
  await shot('04-machines');
  await page.getByRole('button', { name: 'bj-web-01' }).click();
  await page.getByTestId('machine-drawer').locator('.bar-chart').waitFor();
  await page.getByTestId('mac-history').locator('.ant-table-row').first().waitFor();
  await page.getByTestId('machine-drawer').locator('.ant-table-row').first().waitFor();
  await shot('05-machine-drawer');
  await page.keyboard.press('Escape');
  await page.getByTestId(`edit-${agents[2].id}`).click();
  await page.locator('.ant-modal').getByText('自动选择不确定，请确认').waitFor();
  await shot('06-machine-edit');
  await page.goto(service.base + '/history');
  await page.locator('.ant-table-row').first().waitFor();
  await shot('07-history');
  await page.goto(service.base + '/alerts');
  await page.locator('.ant-table-row').first().waitFor();
  await shot('08-alerts');
  await page.getByRole('tab', { name: '核对结果' }).click();
  await page.getByText('customer copy differed', { exact: false }).first().waitFor();
  await shot('09-verifications');
  await page.goto(service.base + '/audit');
  await page.locator('.ant-table-row').first().waitFor();
  await shot('10-audit');
  // The hours sh-cdn-01's agent skipped while its push switch was off, in its drawer.
  await page.goto(service.base + '/machines');
  await page.getByRole('button', { name: 'sh-cdn-01' }).click();
  const skippedCard = page.getByTestId('skipped-card');
  await skippedCard.locator('.ant-table-row').nth(2).waitFor();
  await skippedCard.scrollIntoViewIfNeeded();
  await page.locator('.ant-spin-spinning, .ant-skeleton').first().waitFor({ state: 'detached' }).catch(() => {});
  await page.screenshot({ path: join(out, '12-machine-skipped.png'), animations: 'disabled' });
  console.log('wrote docs/screenshots/12-machine-skipped.png');
  await page.keyboard.press('Escape');
  // Settlement (结算) of this month: the node table, then one node's daily 日95 with the 月95 line.
  await page.goto(service.base + '/settlement');
  await page.getByTestId('fig-n-bj-1-coverage').waitFor();
  await shot('13-settlement');
  await page.getByTestId('chart-n-bj-1').click();
  await page.getByTestId('daily-chart').locator('.bar').first().waitFor();
  await shot('14-settlement-chart');
  await page.keyboard.press('Escape');
  // One page in English, to show the switch (the rest stay zh-CN, the default).
  await page.getByTestId('lang-switch').click();
  await page.goto(service.base + '/machines');
  await page.getByRole('button', { name: 'bj-web-01' }).waitFor();
  await page.getByRole('columnheader', { name: 'Host name' }).waitFor();
  await shot('11-machines-en');
  console.log(`webhook receiver got ${received.length} alert deliveries`);
} finally {
  await browser.close();
  await service.stop();
  receiver.close();
}
