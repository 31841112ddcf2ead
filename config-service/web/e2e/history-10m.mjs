// Benchmark: time to an interactive history page with 10 million push history rows.
// 200 agents register through the agent API; the rows go straight into the store with one
// SQL statement (sqlite3 CLI), then the service is started again on that store and Chromium
// opens the history page: the clock runs from navigation to the first table row on screen.
// The rows go in through the store's triggers (kept counts, latest attempts), as the API's
// inserts would.
import { spawnSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { addAgent, binaryPath, launchBrowser, login, startService } from './support.mjs';

const ROWS = Number(process.env.ROWS ?? 10_000_000);
console.log(`service binary: ${binaryPath()} (PUSHAGENT_CONFIG_BIN to choose)`);
const MACHINES = 200;

const seeding = await startService({ keep: true });
const dir = seeding.dir;
for (let i = 0; i < MACHINES; i++) {
  const hex = (i + 1).toString(16).padStart(4, '0');
  await addAgent(seeding, { uid: `uid-bench-${i}`, hostname: `bench-${i}`, mac: `52:54:00:00:${hex.slice(0, 2)}:${hex.slice(2)}`, node: `n${i % 10}` });
}
await seeding.stop();

const db = join(dir, 'config.sqlite');
const points = JSON.stringify(Array(12).fill(1000));
const pushedPoints = JSON.stringify(Array(12).fill(1030));
const started = Date.now();
const sql = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
CREATE TEMP TABLE m AS SELECT id, mac, row_number() OVER (ORDER BY id) - 1 AS k FROM machines;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS - 1})
INSERT INTO push_history (machine_id, mac, flux_hour, version, attempt, raw_bytes, pushed_bytes,
    raw_points, pushed_points, offset_bp, status, http_status, code, message, attempted_at, received_at)
SELECT m.id, m.mac, strftime('%Y%m%d%H', 1600000000 + (n.i / ${MACHINES}) * 3600, 'unixepoch'), 1, 1,
    12000, 12360, '${points}', '${pushedPoints}', 300,
    CASE WHEN n.i % 50 = 0 THEN 'failure' ELSE 'success' END,
    CASE WHEN n.i % 50 = 0 THEN 503 ELSE 200 END, 0, NULL,
    1600000000 + (n.i / ${MACHINES}) * 3600 + 3700, 1600000000 + (n.i / ${MACHINES}) * 3600 + 3710
FROM n JOIN m ON m.k = n.i % ${MACHINES};
SELECT COUNT(*) FROM push_history;
`;
const seeded = spawnSync('sqlite3', [db], { input: sql, encoding: 'utf8', maxBuffer: 1 << 20 });
if (seeded.status !== 0) throw new Error(seeded.stderr);
console.log(`seeded ${seeded.stdout.trim().split('\n').pop()} rows in ${((Date.now() - started) / 1000).toFixed(0)} s; store ${(statSync(db).size / 1e9).toFixed(2)} GB`);

const service = await startService({ reuseDir: dir, keep: true });
const browser = await launchBrowser();
try {
  const apiTimes = [];
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    const page = await service.api('GET', '/api/history?page=1&page_size=20');
    apiTimes.push(performance.now() - t0);
    if (page.total !== ROWS) throw new Error(`total ${page.total}`);
  }
  console.log(`GET /api/history (page 1, 20 rows, total ${ROWS}): ${apiTimes.map((t) => t.toFixed(0)).join(', ')} ms`);
  const page = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
  page.setDefaultTimeout(120_000);
  await login(page, service.base);
  const times = [];
  const apiInPage = [];
  page.on('requestfinished', (request) => {
    if (request.url().includes('/api/history?')) {
      const timing = request.timing();
      apiInPage.push(timing.responseEnd);
    }
  });
  for (let run = 0; run < 3; run++) {
    await page.goto(service.base + '/audit');
    const t0 = Date.now();
    await page.getByRole('menuitem', { name: '推送历史' }).click();
    await page.locator('.ant-table-row').first().waitFor();
    await page.getByText(`共 ${ROWS} 条`).waitFor();
    times.push(Date.now() - t0);
  }
  console.log(`history page, menu click to first rows and total shown: ${times.join(', ')} ms`);
  console.log(`  of which /api/history as the page saw it: ${apiInPage.map((t) => t.toFixed(0)).join(', ')} ms`);
  const cold = Date.now();
  await page.goto(service.base + '/history');
  await page.locator('.ant-table-row').first().waitFor();
  console.log(`history page, full load (navigation, JS, login check, rows): ${Date.now() - cold} ms`);
} finally {
  await browser.close();
  await service.stop();
  if (process.env.KEEP_STORE) console.log(`store kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
