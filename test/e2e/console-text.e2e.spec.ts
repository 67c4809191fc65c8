import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { command, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

/** Debian's chromium (`.ci/run` installs it with apt); `CHROMIUM_PATH` points elsewhere. */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const describeInBrowser = fs.existsSync(CHROMIUM) ? describe : describe.skip;

jest.setTimeout(120_000);

/** Plain text by the input rules (no control characters), and markup if a page ever parsed it as HTML. */
const MARKUP = '<img src=x onerror="document.title=\'owned\'"><b>bold</b>';

/** Every place in the console's code that could parse text as HTML. */
const HTML_SINKS = /\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|srcdoc/;

describe('the console builds its pages from text, never from HTML', () => {
  it('has no HTML sink anywhere in its scripts', () => {
    const dir = path.join(ROOT, 'console', 'js');
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) expect([file, HTML_SINKS.test(fs.readFileSync(path.join(dir, file), 'utf8'))]).toEqual([file, false]);
  });
});

describeInBrowser('stored values in the console, in a real browser', () => {
  let dataDir: string;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-console-text-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
    const created = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:markup@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: MARKUP });
    expect(created.status).toBe(200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
    page = await (await browser.newContext()).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows a display name that looks like markup as the text it is', async () => {
    await page.goto(server.url);
    await page.getByLabel('API token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.getByRole('button', { name: 'Signed in' }).waitFor();
    const cell = page.getByRole('cell', { name: MARKUP, exact: true });
    await cell.first().waitFor();
    expect(await cell.first().textContent()).toBe(MARKUP);
    expect(await page.locator('main img, main b').count()).toBe(0);
    expect(await page.title()).not.toBe('owned');
  });
});
