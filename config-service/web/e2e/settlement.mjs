// Browser test of the settlement page (结算): a month of known history is pushed through the
// agent API, and every figure the page shows — per node and per machine, raw, pushed and the
// customer's, coverage, the daily 日95 and one day's 288 points — is checked against the value
// computed by hand below (docs/settlement.md has the definitions). Every wait is on a condition.
//
// October 2025 (31 days = 8 928 slots a machine; index of the 95th = round(8928 × 0.95) − 1 =
// 8481), report time zone UTC+08:00. 1 Mbps = 37 500 000 bytes in 5 minutes.
//   web-01 (node bj): every slot 1 Mbps; Oct 1 slots 0..14 at 3 Mbps; pushed +5 %; every hour
//     verified equal at the customer.
//   web-02 (node bj): every slot 2 Mbps; Oct 31 slots 273..287 at 4 Mbps; Oct 10 hour 05 not
//     pushed (12 slots missing); offset 0; nothing verified.
//   db-01 (no node): Oct 15 only, every slot 0.5 Mbps; every hour read back from the customer
//     by a new agent (the customer's points in the verification): hours 03 and 04 held at
//     1 Mbps by the customer, the others as pushed.
import assert from 'node:assert/strict';
import { addAgent, launchBrowser, login, startService, waitFor } from './support.mjs';

const NAME = 'the settlement page shows every figure of a known month, per node and per machine';
const MBPS = 37_500_000;
const pad = (n) => String(n).padStart(2, '0');
const day = (d) => `202510${pad(d)}`;

/// One pushed hour: `points(slot)` gives the raw bytes of each slot of the day.
function push(mac, d, hour, points, offsetPercent) {
  const raw = Array.from({ length: 12 }, (_, k) => points(hour * 12 + k));
  const pushed = raw.map((b) => (b * (100 + offsetPercent)) / 100);
  return {
    mac,
    flux_hour: `${day(d)}${pad(hour)}`,
    version: 1,
    attempt: 1,
    raw_bytes: raw.reduce((a, b) => a + b, 0),
    pushed_bytes: pushed.reduce((a, b) => a + b, 0),
    raw_points: raw,
    pushed_points: pushed,
    offset_bp: offsetPercent * 100,
    status: 'success',
    http_status: 200,
    code: 0,
    message: null,
    attempted_at: 1_760_000_000 + d * 86_400 + hour * 3600,
  };
}

function verification(mac, d, hour, matched) {
  return { mac, flux_hour: `${day(d)}${pad(hour)}`, version: 1, matched, corrected: !matched, verified_at: 1_760_000_000 + d * 86_400 + hour * 3600 + 7200, message: null };
}

/// A new agent's verification: the customer's 12 points as it read them back.
function readBack(mac, d, hour, theirs, ours) {
  const same = theirs === ours;
  return {
    ...verification(mac, d, hour, same),
    state: same ? 'matched' : 'mismatch_corrected',
    checked_version: 1,
    customer_points: Array(12).fill(theirs),
  };
}

async function seed(service) {
  const web1 = await addAgent(service, { uid: 'uid-web-01', hostname: 'web-01', mac: '52:54:00:bb:00:01', node: 'bj' });
  const web2 = await addAgent(service, { uid: 'uid-web-02', hostname: 'web-02', mac: '52:54:00:bb:00:02', node: 'bj' });
  const db1 = await addAgent(service, { uid: 'uid-db-01', hostname: 'db-01', mac: '52:54:00:bb:00:03' });
  for (let d = 1; d <= 31; d += 1) {
    const p1 = (slot) => (d === 1 && slot < 15 ? 3 * MBPS : MBPS);
    const p2 = (slot) => (d === 31 && slot >= 273 ? 4 * MBPS : 2 * MBPS);
    const hours = [...Array(24).keys()];
    await web1.post('/agent/history/', {
      pushes: hours.map((h) => push(web1.mac, d, h, p1, 5)),
      verifications: hours.map((h) => verification(web1.mac, d, h, true)),
    });
    await web2.post('/agent/history/', { pushes: hours.filter((h) => !(d === 10 && h === 5)).map((h) => push(web2.mac, d, h, p2, 0)) });
  }
  const hours = [...Array(24).keys()];
  await db1.post('/agent/history/', {
    pushes: hours.map((h) => push(db1.mac, 15, h, () => MBPS / 2, 0)),
    verifications: hours.map((h) => readBack(db1.mac, 15, h, h === 3 || h === 4 ? MBPS : MBPS / 2, MBPS / 2)),
  });
  return { web1, web2, db1 };
}

// Hand-computed figures (Mbps to 3 decimals as shown; totals and coverage exact).
//   web-01 raw: 日95 max 3 (Oct 1: 15 bursts reach index 273), 月95 1 (15 bursts ≪ 447),
//     月均日95 (3 + 30 × 1) / 31 = 1.0645 → 39 919 355 B → 1.065, peak 3,
//     total 8928 × 37.5 M + 15 × 75 M = 335 925 000 000.
//   web-01 pushed (+5 %): 3.150, 1.050, 41 915 323 B → 1.118, 3.150, 352 721 250 000.
//   web-02: 日95 max 4 (Oct 31), 月95 2, 月均日95 (4 + 30 × 2) / 31 → 77 419 355 B → 2.065,
//     peak 4, total 8901 × 75 M + 15 × 150 M = 669 825 000 000, coverage 8916/8928.
//   node bj (slot sums; not the sum of the machines' figures): raw base 3, Oct 1 bursts 5,
//     Oct 31 bursts 5, Oct 10 hour 05 1 → 日95 max 5 (≠ 3 + 4 = 7), 月95 3,
//     月均日95 (5 + 5 + 29 × 3) / 31 → 117 338 710 B → 3.129, peak 5,
//     total 1 005 750 000 000, coverage 17844/17856. Pushed: base 3.05, bursts 5.15 and 5.05 →
//     5.150, 3.050, (5.15 + 5.05 + 29 × 3.05) / 31 → 119 334 677 B → 3.182, 5.150,
//     1 022 546 250 000.
//   db-01: 日95 max 0.5, 月95 0 (288 of 8928 points), 月均日95 18 750 000 / 31 → 604 839 B →
//     0.016, peak 0.5, total 5 400 000 000, coverage 288/8928. The customer's copy: 264 slots
//     at 0.5 and 24 at 1 Mbps → 日95 max 1 (index 273 ≥ 264), 月95 0, 月均日95 37 500 000 / 31
//     → 1 209 677 B → 0.032, peak 1, total 264 × 18 750 000 + 24 × 37 500 000 = 5 850 000 000.
const FIGURES = ['max_day_p95', 'p95', 'mean_day_p95', 'peak'];
const EXPECTED = {
  'n-bj': {
    coverage: '17844/17856',
    raw: ['5.000', '3.000', '3.129', '5.000', 1_005_750_000_000],
    pushed: ['5.150', '3.050', '3.182', '5.150', 1_022_546_250_000],
    customer: null,
    status: '未全部核对',
  },
  'n-': {
    coverage: '288/8928',
    raw: ['0.500', '0.000', '0.016', '0.500', 5_400_000_000],
    pushed: ['0.500', '0.000', '0.016', '0.500', 5_400_000_000],
    customer: ['1.000', '0.000', '0.032', '1.000', 5_850_000_000],
    status: '有差异',
  },
};
const MACHINES = {
  'web-01': {
    coverage: '8928/8928',
    raw: ['3.000', '1.000', '1.065', '3.000', 335_925_000_000],
    pushed: ['3.150', '1.050', '1.118', '3.150', 352_721_250_000],
    customer: ['3.150', '1.050', '1.118', '3.150', 352_721_250_000],
    status: '已核对一致',
  },
  'web-02': {
    coverage: '8916/8928',
    raw: ['4.000', '2.000', '2.065', '4.000', 669_825_000_000],
    pushed: ['4.000', '2.000', '2.065', '4.000', 669_825_000_000],
    customer: null,
    status: '未全部核对',
  },
  'db-01': EXPECTED['n-'],
};

async function checkRow(page, key, expected) {
  assert.equal(await page.getByTestId(`fig-${key}-coverage`).innerText(), expected.coverage, `${key} coverage`);
  for (const kind of ['raw', 'pushed', 'customer']) {
    const values = expected[kind];
    for (const [i, figure] of [...FIGURES, 'total'].entries()) {
      const cell = page.getByTestId(`fig-${key}-${figure}-${kind}`);
      if (values === null) {
        assert.equal(await cell.innerText(), '—', `${key} ${figure} ${kind}: unknown, not guessed`);
      } else if (figure === 'total') {
        assert.equal(Number(await cell.getAttribute('data-bytes')), values[i], `${key} total ${kind}`);
      } else {
        assert.equal(await cell.innerText(), values[i], `${key} ${figure} ${kind}`);
      }
    }
  }
  assert.equal(await page.getByTestId(`customer-${key}`).innerText(), expected.status, `${key} customer status`);
}

const started = Date.now();
const service = await startService();
const browser = await launchBrowser();
let page;
try {
  const { web2 } = await seed(service);
  const context = await browser.newContext({ locale: 'zh-CN' });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  await login(page, service.base);
  await page.getByRole('menuitem', { name: '结算' }).click();
  // The current month by default.
  const monthInput = page.getByTestId('settlement-month').locator('input');
  // The browser runs on this machine, in its time zone.
  const now = new Date();
  await waitFor('the current month in the picker', async () => (await monthInput.inputValue()) === `${now.getFullYear()}-${pad(now.getMonth() + 1)}`);
  await monthInput.click();
  await monthInput.fill('2025-10');
  await monthInput.press('Enter');
  await page.getByTestId('settlement-range').getByText('20251001 – 20251031').waitFor();

  // Nodes.
  for (const [key, expected] of Object.entries(EXPECTED)) {
    await page.getByTestId(`fig-${key}-coverage`).waitFor();
    await checkRow(page, key, expected);
  }
  // Exports of the table on screen, with the session cookie.
  const csvHref = await page.getByTestId('export-csv').getAttribute('href');
  assert.match(csvHref, /from=20251001&to=20251031&group_by=node/);
  const csv = await (await context.request.get(service.base + csvHref)).text();
  const [header, ...lines] = csv.trim().split('\n');
  const bj = lines.find((l) => l.startsWith('bj,')).split(',');
  assert.equal(bj[header.split(',').indexOf('raw_max_day95_bytes')], String(5 * MBPS));
  const xlsx = await context.request.get(service.base + (await page.getByTestId('export-xlsx').getAttribute('href')));
  assert.equal(xlsx.status(), 200);

  // Drill down: node bj → its machines.
  await page.getByTestId('drill-node-bj').click();
  await page.getByTestId('node-filter').waitFor();
  await page.getByTestId(`fig-m${web2.id}-coverage`).waitFor();
  assert.equal(await page.locator('.ant-table-tbody tr.ant-table-row').count(), 2, 'bj has two machines');
  // All machines (the filter removed).
  await page.getByTestId('node-filter').locator('.ant-tag-close-icon').click();
  await waitFor('three machine rows', async () => (await page.locator('.ant-table-tbody tr.ant-table-row').count()) === 3);
  const ids = Object.fromEntries(
    (await service.api('GET', '/api/machines?page_size=50')).items.map((m) => [m.hostname, m.id]),
  );
  for (const [host, expected] of Object.entries(MACHINES)) await checkRow(page, `m${ids[host]}`, expected);

  // web-02's month: 日95 of each day, the 月95 line; then Oct 10's 288 points.
  await page.getByTestId(`chart-m${web2.id}`).click();
  const drawer = page.getByTestId('settlement-drawer');
  await drawer.getByTestId('day95-20251031').waitFor();
  assert.equal(await drawer.getByTestId('day95-20251031').innerText(), '4.000');
  assert.equal(await drawer.getByTestId('day95-20251010').innerText(), '2.000', 'Oct 10: 12 zeros stay below index 273');
  assert.equal(await drawer.getByTestId('daily-chart').locator('.bar').count(), 31);
  assert.equal(Number(await drawer.getByTestId('daily-chart').locator('.bar-chart-line').getAttribute('data-value')), 2, '月95 line');
  await drawer.getByTestId('day-20251010').click();
  await drawer.getByTestId('day-summary').waitFor();
  assert.equal(await drawer.getByTestId('points-chart').locator('.bar').count(), 288);
  const slot = (i) => drawer.getByTestId('points-chart').locator(`.bar[data-id="slot-${i}"]`);
  assert.equal(Number(await slot(59).getAttribute('data-value')), 2, '04:55 is 2 Mbps');
  assert.equal(Number(await slot(60).getAttribute('data-value')), 0, '05:00, not pushed');
  assert.equal(Number(await slot(71).getAttribute('data-value')), 0);
  assert.equal(Number(await slot(72).getAttribute('data-value')), 2);
  assert.equal(await drawer.getByTestId('day-summary').innerText(), '日95 2.000 Mbps · 峰值 2.000 Mbps · 总量 19.28 GiB · 覆盖 276/288');

  // db-01's month as the customer holds it (read back by its agent): Oct 15's 日95 is 1 Mbps,
  // and hour 03 of that day is the customer's 1 Mbps, not the 0.5 pushed.
  await drawer.locator('.ant-drawer-close').click();
  await drawer.waitFor({ state: 'hidden' });
  await page.getByTestId(`chart-m${ids['db-01']}`).click();
  await drawer.getByTestId('day95-20251015').waitFor();
  assert.equal(await drawer.getByTestId('day95-20251015').innerText(), '0.500', 'pushed first');
  await drawer.locator('.ant-segmented-item').filter({ hasText: '客户' }).click();
  await waitFor("the customer's 日95", async () => (await drawer.getByTestId('day95-20251015').innerText()) === '1.000');
  await drawer.getByTestId('day-20251015').click();
  await drawer.getByTestId('day-summary').waitFor();
  assert.equal(Number(await slot(36).getAttribute('data-value')), 1, "03:00 at the customer");
  assert.equal(Number(await slot(60).getAttribute('data-value')), 0.5, '05:00 as pushed');
  console.log(`ok   ${NAME} (${Date.now() - started} ms)`);
} catch (e) {
  process.exitCode = 1;
  console.log(`FAIL ${NAME}\n     ${String(e?.stack ?? e).split('\n').slice(0, 8).join('\n     ')}`);
  if (page) await page.screenshot({ path: `${service.dir}/../pushagent-e2e-settlement-failure.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
  await service.stop();
}
