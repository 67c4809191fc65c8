import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { bearer, getJson, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'console');
const AXE = require.resolve('axe-core/axe.min.js');
if (!HAVE_CHROMIUM) console.warn(`console drift browser test SKIPPED: no chromium binary at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
const describeInBrowser = HAVE_CHROMIUM ? describe : describe.skip;

jest.setTimeout(120_000);

describeInBrowser('the console Drift page', () => {
  let dataDir: string;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-console-drift-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
    // An endpoint made in the Management Shell, and a pool failed over there.
    const expected = (await getJson(server.url, '/api/observations/expected')).body;
    const observed = {
      ...expected,
      collectedAt: new Date().toISOString(),
      endpoints: [{ sipAddress: 'sip:outside@contoso.com', poolFqdn: 'pcpool.contoso.com', displayName: 'Made outside' }],
      persistentChatPools: expected.persistentChatPools.map((p: { fqdn: string }) => (p.fqdn === 'pcpool.contoso.com' ? { ...p, poolState: 'FailedOver' } : p)),
    };
    const response = await fetch(`${server.url}/api/observations`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/json' }, body: JSON.stringify(observed) });
    expect(response.status).toBe(200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, bypassCSP: true });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists open drift with ledger vs observed, previews an adoption, adopts with a reason, and the drift is gone', async () => {
    await page.goto(server.url);
    await page.getByLabel('API token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.getByRole('button', { name: 'Signed in' }).waitFor();
    await page.getByRole('link', { name: 'Drift', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Drift' }).waitFor();

    const table = page.getByRole('table', { name: '2 open' });
    await table.waitFor();
    await expect(table.getByRole('row', { name: /endpoint:sip:outside@contoso\.com/ }).textContent()).resolves.toContain('in the deployment, not in the ledger');
    const pool = await table.getByRole('row', { name: /persistentChatPool:pcpool\.contoso\.com/ }).textContent();
    expect(pool).toContain('"poolState": "Normal"');
    expect(pool).toContain('"poolState": "FailedOver"');

    await page.screenshot({ path: path.join(ARTIFACTS, 'drift.png'), fullPage: true });
    await page.addScriptTag({ path: AXE });
    const violations = (await page.evaluate(`axe.run(document).then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.help))`)) as string[];
    expect(violations).toEqual([]);

    await page.getByLabel('Adopt endpoint:sip:outside@contoso.com').check();
    await page.getByLabel('Reason').fill('CHG0200 endpoint made in the shell');
    await page.getByRole('button', { name: 'Preview adoption (what-if)' }).click();
    await page.getByRole('heading', { name: /What-if: 2 event\(s\) for 1 drift item\(s\)/ }).waitFor();
    await page.getByRole('button', { name: 'Confirm: adopt 1 item(s)' }).click();
    await page.getByText(/Adopted 1 item\(s\)/).waitFor();
    await page.getByRole('table', { name: '1 open' }).waitFor();
    expect(pageErrors).toEqual([]);
  });
});
