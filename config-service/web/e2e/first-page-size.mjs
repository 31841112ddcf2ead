// Benchmark: JS+CSS the browser loads for the first page (the login page, then the overview
// an operator lands on), raw and gzip-compressed (zlib level 6, as a gzip-serving proxy would).
import { gzipSync } from 'node:zlib';
import { launchBrowser, login, startService } from './support.mjs';

const service = await startService();
const browser = await launchBrowser();
try {
  const page = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
  const loaded = new Map();
  page.on('response', async (response) => {
    const url = response.url();
    if (/\.(js|css)(\?|$)/.test(url)) loaded.set(url, await response.body());
  });
  const report = (label) => {
    let raw = 0;
    let gz = 0;
    for (const body of loaded.values()) {
      raw += body.length;
      gz += gzipSync(body, { level: 6 }).length;
    }
    console.log(`${label}: ${loaded.size} files, ${(raw / 1024).toFixed(1)} KiB raw, ${(gz / 1024).toFixed(1)} KiB gzip`);
  };
  await page.goto(service.base + '/');
  await page.locator('#username').waitFor();
  await page.waitForLoadState('networkidle');
  report('login page (first page)');
  await login(page, service.base);
  await page.getByTestId('stat-deployed').waitFor();
  await page.waitForLoadState('networkidle');
  report('login page + overview (cumulative)');
} finally {
  await browser.close();
  await service.stop();
}
