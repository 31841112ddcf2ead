// Browser end-to-end test with nothing faked: the real reference customer (taking both
// profiles of customer-api.md: AK-… the JSON one, AK-…-line the line one), the real config
// service and the REAL agent binary (x240 demo clock: a report hour every 15 real seconds).
// The agent first pushes JSON batches; in 推送配置 the operator picks the preset
// "逐行 CSV (原厂商格式)", sets the line access id, saves, and the agent obeys at its next push:
// one CSV line per request with an increasing X-Seq, answered `ok` as the preset's answer rule
// expects, received by the customer exactly as the agent built the hours. Then the operator picks "参考接口 (JSON)"
// again and the agent goes back to signed JSON batches. Every wait is on a condition with a
// bounded timeout.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { confirmDialog, launchBrowser, login, startService, waitFor } from './support.mjs';
import { HOUR_MS, collectedInterface, startAgent, startCustomer } from './real-agent.mjs';

const SCALE = 240;
const REAL_HOUR_MS = HOUR_MS / SCALE;
const JSON_ID = 'AK-e2e-switch';
const LINE_ID = 'AK-e2e-switch-line';
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

/// Pick a preset in the push-config page's picker, and check the picker then names it.
async function pickPreset(page, name) {
  const picker = page.getByTestId('profile-preset');
  await picker.click();
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: name }).click();
  await waitFor(`the picker to show ${name}`, async () => (await picker.innerText()).includes(name));
}

async function save(page) {
  await page.getByTestId('save-push-config').click();
  await confirmDialog(page);
}

const NAME = 'the console switches the fleet from the JSON profile to the line profile and back, and the real agent obeys';
const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'pushagent-switch-'));
let keepDir = false;
cleanups.push(() => !keepDir && rmSync(dir, { recursive: true, force: true }));
let page = null;
let agent = null;
let customer = null;
try {
  const service = await startService();
  cleanups.push(() => service.stop());
  customer = await startCustomer(dir, { accessId: JSON_ID, secret: SECRET, args: ['--line-access-id', LINE_ID] });
  cleanups.push(() => customer.stop());
  const global = await service.api('GET', '/api/global-config');
  await service.api('PUT', '/api/global-config', {
    ...global,
    push_enabled: true,
    customer: { ...global.customer, base_url: customer.base, access_id: JSON_ID, secret: SECRET },
    provider_id: 'e2e-provider',
    provider_uiid: '00000000-0000-4000-8000-0000000000e3',
    isp_id: 1,
    device_type: 1,
    offset_bp: 250,
  });
  const iface = collectedInterface();
  agent = startAgent(dir, { serviceUrl: service.base, enrollToken: service.enrollToken, iface: iface.name, scale: SCALE, testName: 'profile-switch.mjs' });
  cleanups.push(() => agent.stop());
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ locale: 'zh-CN' });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await login(page, service.base);

  /// Every hour the agent sent is at the customer exactly as the agent built it.
  const customerHasWhatWasSent = async () => {
    const records = (await customer.dump()).records.filter((r) => r.mac === iface.mac);
    const sent = (await agent.outbox()).filter((r) => r.mac === iface.mac && r.state === 'sent');
    for (const r of sent) {
      const got = records.find((c) => c.flux_hour === r.flux_hour);
      assert.ok(got, `the customer holds sent hour ${r.flux_hour}`);
      assert.equal(got.version, r.version, `hour ${r.flux_hour}`);
      assert.deepEqual(Array.from({ length: 12 }, (_, i) => got[`v${i}`]), r.pushed, `hour ${r.flux_hour}`);
    }
    return sent.length;
  };

  // 1. JSON: the agent's first hours arrive as signed batches (no line push at all).
  await waitFor(
    'a first JSON push at the customer',
    async () => {
      agent.alive();
      const dump = await customer.dump();
      return dump.records.some((r) => r.mac === iface.mac) && dump.pushes > 0;
    },
    8 * REAL_HOUR_MS,
  );
  assert.deepEqual((await customer.dump()).line_seqs, [], 'no line push yet');

  // 2. The operator picks the line preset, sets the line access id and the customer's query.
  await page.getByRole('menuitem', { name: '推送配置' }).click();
  await page.getByTestId('push-config-form').waitFor();
  await pickPreset(page, '逐行 CSV (原厂商格式)');
  assert.ok(await page.getByTestId('profile-line').isVisible(), 'the line fields show for the line encoding');
  assert.equal(await page.locator('#customer_query_path').inputValue(), '', 'the preset has no query API');
  await page.locator('#customer_access_id').fill(LINE_ID);
  // The access id is not part of a profile: the picker still names the preset.
  assert.ok((await page.getByTestId('profile-preset').innerText()).includes('逐行 CSV (原厂商格式)'));
  await save(page);
  const stored = await waitFor('the line profile to be saved', async () => {
    const g = await service.api('GET', '/api/global-config');
    return g.customer.encoding === 'line' && g.customer.access_id === LINE_ID && g;
  });
  assert.equal(stored.customer.auth.access_id_header, 'access_id');
  assert.equal(stored.customer.auth.sequence_header, 'X-Seq');
  assert.deepEqual(stored.customer.auth.static_headers, [['need_response', 'true']]);
  assert.equal(stored.customer.query_path, '');
  assert.equal(stored.customer.answer.result_field, '');
  assert.equal(stored.customer.secret, undefined, 'the secret never comes back');
  const switchedAt = Date.now();
  const jsonPushes = (await customer.dump()).pushes;

  // 3. The agent obeys at its next push: one line per request, X-Seq increasing.
  const lineDump = await waitFor(
    'two line pushes at the customer',
    async () => {
      agent.alive();
      const dump = await customer.dump();
      return dump.line_seqs.length >= 2 && dump;
    },
    6 * REAL_HOUR_MS,
  );
  assert.ok(lineDump.line_seqs.every((seq, i, all) => i === 0 || all[i - 1] < seq), `X-Seq increases: ${lineDump.line_seqs}`);
  assert.equal(lineDump.pushes, jsonPushes + lineDump.line_seqs.length, 'after the switch every push is a line push');
  const lineSent = await customerHasWhatWasSent();
  const lineLog = readFileSync(customer.log, 'utf8');
  assert.ok(!/refused|invalid/.test(lineLog.split('\n').filter((l) => l.includes('POST')).join('\n')), 'no line push was refused');

  // 4. And back: the JSON preset, the JSON access id; the next pushes are JSON batches again.
  await page.reload();
  await page.getByTestId('push-config-form').waitFor();
  await pickPreset(page, '参考接口 (JSON)');
  assert.equal(await page.getByTestId('profile-line').isVisible(), false, 'no line fields for JSON');
  await page.locator('#customer_access_id').fill(JSON_ID);
  await save(page);
  await waitFor('the JSON profile to be saved', async () => (await service.api('GET', '/api/global-config')).customer.encoding === 'json');
  const linePushes = (await customer.dump()).line_seqs.length;
  const backDump = await waitFor(
    'a JSON push after switching back',
    async () => {
      agent.alive();
      const dump = await customer.dump();
      return dump.pushes > jsonPushes + dump.line_seqs.length && dump;
    },
    6 * REAL_HOUR_MS,
  );
  assert.ok(backDump.line_seqs.length <= linePushes + 1, 'at most a push in flight during the switch was a line push');
  const allSent = await customerHasWhatWasSent();
  console.log(
    `ok   ${NAME} (${Date.now() - started} ms; ${backDump.line_seqs.length} line push(es) in the ${Math.round((Date.now() - switchedAt) / 1000)} s since the switch, ${lineSent} hour(s) sent by then, ${allSent} in all, x${SCALE} clock)`,
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
