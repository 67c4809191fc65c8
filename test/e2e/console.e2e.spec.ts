import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { bearer, command, seedTopology } from '../support/http';
import { ROOT, RunningServer, startServer, TEST_ADMIN_TOKEN } from '../support/server';

/** Debian's chromium (`.ci/run` installs it with apt); `CHROMIUM_PATH` points elsewhere. */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'console');
const AXE = require.resolve('axe-core/axe.min.js');
/** Typed into the console's sign-in: the admin token the test server starts with. */
const TOKEN = TEST_ADMIN_TOKEN;

if (!HAVE_CHROMIUM) {
  console.warn(`console browser tests SKIPPED: no chromium binary at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
}
const describeInBrowser = HAVE_CHROMIUM ? describe : describe.skip;

jest.setTimeout(120_000);

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** Runs axe-core in the page; answers the serious and critical violations, described. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  // Evaluated in the page (a string: this project's TypeScript has no DOM types).
  const violations = (await page.evaluate(`axe.run(document).then((result) => result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })),
  })))`)) as AxeViolation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

describeInBrowser('the web console in a real browser', () => {
  let dataDir: string;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const authorizationHeaders: (string | undefined)[] = [];

  async function snapshot(name: string): Promise<void> {
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  async function checked(name: string): Promise<void> {
    await snapshot(name);
    expect(await accessibilityProblems(page)).toEqual([]);
  }

  async function open(route: string, heading: string): Promise<void> {
    await page.getByRole('link', { name: route, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  }

  async function get(route: string): Promise<unknown> {
    return (await fetch(`${server.url}${route}`, { headers: bearer() })).json();
  }

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-console-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    await seedTopology(server.url);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    // The console's Content-Security-Policy forbids inline scripts; the accessibility scan injects one.
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, bypassCSP: true, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/api/')) authorizationHeaders.push(request.headers()['authorization']);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(pageErrors).toEqual([]);
  });

  it('is served at / with the API untouched, signs in with a token kept for the session, and sends it on every request', async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    const index = await fetch(`${server.url}/`);
    expect(index.headers.get('content-type')).toContain('text/html');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");

    await page.goto(server.url);
    await page.getByRole('heading', { level: 1, name: 'Topology' }).waitFor();
    // The server asks for a credential: the sign-in opens by itself on the first 401.
    await page.getByLabel('API token').waitFor();
    await page.getByLabel('API token').fill(TOKEN);
    await snapshot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.getByRole('button', { name: 'Signed in' }).waitFor();
    expect(await page.evaluate(`sessionStorage.getItem('topology-ledger.token')`)).toBe(TOKEN);

    authorizationHeaders.length = 0;
    await page.reload();
    await page.locator('svg.diagram').waitFor();
    expect(authorizationHeaders.length).toBeGreaterThan(0);
    expect(authorizationHeaders.every((header) => header === `Bearer ${TOKEN}`)).toBe(true);
    await page.getByText('live', { exact: true }).waitFor();
  });

  it('draws the topology: pools with servers and state, the URIs that reach them, a diagram and tables', async () => {
    const diagram = page.locator('svg.diagram');
    await diagram.locator('[data-sip="sip:ocschat@contoso.com"]').waitFor();
    await expect(diagram.locator('[data-pool="gc.contoso.com"]').textContent()).resolves.toContain('Legacy Group Chat (Lync2010) · Started');
    await expect(diagram.locator('[data-pool="pcpool.contoso.com"]').textContent()).resolves.toContain('pc1.contoso.com (active)');
    const pools = page.getByRole('table', { name: 'Pools' });
    await expect(pools.getByRole('row', { name: /gc\.contoso\.com/ }).textContent()).resolves.toContain('Started');
    const uris = page.getByRole('table', { name: 'SIP URIs and the pool each reaches' });
    await expect(uris.getByRole('row', { name: /sip:ocschat@contoso\.com/ }).textContent()).resolves.toContain('gc.contoso.com');
    await checked('topology');
  });

  it('can be used from the keyboard alone: skip link, page links, controls', async () => {
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    const reached: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      reached.push((await page.evaluate(`document.activeElement?.textContent?.trim() || document.activeElement?.id || ''`)) as string);
      if (reached[reached.length - 1] === 'Endpoints') break;
    }
    expect(reached).toEqual(['Topology', 'Migration', 'Endpoints']);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Endpoints' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.tagName')).not.toBe('BODY');
  });

  let migrationId = '';

  it("runs the seed's migration entirely through the console: plan, runbook, record with a reason, every step", async () => {
    await open('Migration', 'Migration');
    await page.getByLabel('Legacy Group Chat pool').selectOption('gc.contoso.com');
    await page.getByLabel('Target Persistent Chat pool').selectOption('pcpool.contoso.com');
    await page.getByRole('button', { name: 'Check plan' }).click();
    await page.getByText('Every precondition holds').waitFor();
    const preconditions = page.getByRole('list', { name: 'Preconditions' }).getByRole('listitem');
    expect(await preconditions.count()).toBeGreaterThanOrEqual(8);
    expect(await preconditions.filter({ hasText: '✗' }).count()).toBe(0);

    const [runbook] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download runbook (.ps1)' }).click()]);
    expect(runbook.suggestedFilename()).toMatch(/^migration-.*\.ps1$/);
    expect(fs.readFileSync(await runbook.path(), 'utf8')).toContain('Import-CsPersistentChatData');
    await checked('migration-plan');

    // Recording needs a reason: the refusal shows at the reason field.
    await page.getByRole('button', { name: 'Record plan' }).click();
    const reason = page.getByLabel('Reason or change ticket');
    await page.getByText(/REASON_REQUIRED/).waitFor();
    await expect(reason.getAttribute('aria-invalid')).resolves.toBe('true');
    await reason.fill('CHG-1042 weekend migration window');
    await page.getByRole('button', { name: 'Record plan' }).click();
    await page.getByText('Plan recorded').waitFor();
    migrationId = new URL(page.url()).hash.split('id=')[1] ?? '';
    expect(migrationId).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByRole('heading', { name: `Migration ${migrationId}` }).waitFor();

    for (let step = 1; step <= 7; step++) {
      await page.getByRole('button', { name: /Run next step/ }).click();
      await page.getByText(`${step} of 7 steps completed`).waitFor();
      if (step === 3) await snapshot('migration-running');
    }
    await page.getByText('Ran step 7: the migration is Completed.').waitFor();
    await page.getByText('Continuity (R16)').filter({ hasText: 'pcpool.contoso.com' }).waitFor();
    await checked('migration-completed');

    const migration = (await get(`/api/migrations/${migrationId}`)) as { status: string; reason: string; steps: { state: string }[] };
    expect(migration).toMatchObject({ status: 'Completed', reason: 'CHG-1042 weekend migration window' });
    expect(migration.steps.map((s) => s.state)).toEqual(Array(7).fill('completed'));
  });

  it('shows a change made elsewhere without reload', async () => {
    await open('Topology', 'Topology');
    await page.locator('svg.diagram [data-sip="sip:ocschat@contoso.com"]').waitFor();
    await page.evaluate('window.notReloaded = true');
    const elsewhere = await command(server.url, 'CreateEndpoint', { sipAddress: 'sip:chat2@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com' });
    expect(elsewhere.status).toBe(200);
    await page.locator('svg.diagram [data-sip="sip:chat2@contoso.com"]').waitFor({ timeout: 10_000 });
    expect(await page.evaluate('window.notReloaded')).toBe(true);
  });

  it('rolls the migration back: refused with the conflict list first, then forced once the conflicting endpoint is gone', async () => {
    await page.goto(`${server.url}/#/migration?id=${migrationId}`);
    await page.getByRole('heading', { name: `Migration ${migrationId}` }).waitFor();
    await page.getByRole('button', { name: 'Roll back' }).click();
    await page.getByText(/REASON_REQUIRED/).waitFor();
    await expect(page.getByLabel('Rollback reason').getAttribute('aria-invalid')).resolves.toBe('true');
    await page.getByLabel('Rollback reason').fill('rooms missing after import');
    await page.getByRole('button', { name: 'Roll back' }).click();
    const conflicts = page.getByRole('table', { name: 'Conflicting later changes' });
    await conflicts.waitFor();
    await expect(conflicts.textContent()).resolves.toContain('PersistentChatEndpointCreated');
    await expect(conflicts.textContent()).resolves.toContain('persistentChatPool:pcpool.contoso.com');
    await page.getByText('ROLLBACK_CONFLICT').waitFor();
    await checked('migration-rollback-conflict');

    // The removal is itself a later change to the target pool: the rollback now needs force (recorded).
    const removed = await command(server.url, 'RemoveEndpoint', { identity: 'sip:chat2@contoso.com', reason: 'not needed' });
    expect(removed.status).toBe(200);
    await page.getByLabel(/^Force/).check();
    await page.getByRole('button', { name: 'Roll back' }).click();
    await page.getByText('Rolled back steps 7, 6, 5, 4, 3, 2, 1: the migration is RolledBack.').waitFor();
    await snapshot('migration-rolled-back');
    const topology = (await get('/api/topology')) as { legacyPools: { status: string }[]; endpoints: unknown[] };
    expect(topology.legacyPools[0]?.status).toBe('Started');
    expect(topology.endpoints).toEqual([]);
  });

  it('moves the time slider back to the topology before the migration, highlighting what changed', async () => {
    await open('Time travel', 'Time travel');
    const slider = page.getByLabel('Moment in the history');
    const moment = page.locator('#moment-text');
    await moment.filter({ hasText: 'RollbackMigration' }).waitFor();
    await slider.focus();
    // Back from the head, one mark at a time, to the plan; one more is the moment before it.
    for (let i = 0; i < 40 && !(await moment.textContent())?.includes('MigratePool'); i++) await page.keyboard.press('ArrowLeft');
    expect(await moment.textContent()).toContain('MigratePool by admin (CHG-1042 weekend migration window)');
    await page.keyboard.press('ArrowLeft');
    await moment.filter({ hasText: 'InstallPersistentChatPool' }).waitFor();
    const position = /Position (\d+)/.exec((await moment.textContent()) ?? '')?.[1];
    await page.locator('figcaption', { hasText: `Which SIP URI reached which pool at position ${position}` }).waitFor();
    const diagram = page.locator('svg.diagram');
    await diagram.locator('g.uri-wellKnownUser[data-sip="sip:ocschat@contoso.com"]').waitFor();
    await expect(diagram.locator('[data-pool="gc.contoso.com"]').getAttribute('class')).resolves.toContain('status-started');
    await expect(diagram.locator('[data-pool="pcpool.contoso.com"]').textContent()).resolves.toContain('Installed');

    // Forward past the plan (which changes no pool) to the first step: the legacy pool stopped, highlighted.
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await moment.filter({ hasText: 'StopPool' }).waitFor();
    await page.locator('svg.diagram [data-pool="gc.contoso.com"].changed-changed').waitFor();
    await page.getByRole('heading', { name: /Changes between position/ }).waitFor();
    await checked('time-travel');

    // The date-time field: a moment before the first change shows the empty topology.
    await page.getByLabel('Date and time (UTC)').fill('2001-01-01T00:00:00');
    await page.getByRole('button', { name: 'Go' }).click();
    await moment.filter({ hasText: 'before the first change' }).waitFor();
    await page.locator('figcaption', { hasText: 'Which SIP URI reached which pool at position 0' }).waitFor();
    expect(await page.locator('svg.diagram g.pool').count()).toBe(0);
  });

  it('rejects an invalid SIP address at its field, then previews and creates the endpoint', async () => {
    await open('Endpoints', 'Endpoints');
    const create = page.getByRole('form', { name: 'Create an endpoint' });
    const sipAddress = create.getByLabel('SIP address');
    await sipAddress.fill('persistentchat@contoso.com');
    await create.getByRole('button', { name: 'Preview (what-if)' }).click();
    const fieldError = create.locator('[data-error-for="sipAddress"]');
    await fieldError.filter({ hasText: 'INVALID_SIP_ADDRESS' }).waitFor();
    await expect(fieldError.textContent()).resolves.toContain("Did you mean 'sip:persistentchat@contoso.com'?");
    await expect(sipAddress.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(create.locator('input:focus').getAttribute('name')).resolves.toBe('sipAddress');
    await checked('endpoints-invalid-sip');

    await sipAddress.fill('sip:persistentchat@contoso.com');
    await create.getByRole('button', { name: 'Preview (what-if)' }).click();
    await page.getByText('What-if: 1 event would be appended').waitFor();
    await page.getByText('PersistentChatEndpointCreated').first().waitFor();
    const before = ((await get('/health')) as { headPosition: number }).headPosition;
    await page.getByRole('button', { name: 'Confirm: create the endpoint' }).click();
    await page.getByText(/CreateEndpoint done/).waitFor();
    expect(((await get('/health')) as { headPosition: number }).headPosition).toBe(before + 1);

    const search = page.getByRole('search', { name: 'Search endpoints' });
    await search.getByLabel('SIP address pattern').fill('sip:persistent*');
    await search.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('table', { name: '1 found' }).getByText('sip:persistentchat@contoso.com').waitFor();
    await checked('endpoints');
  });

  it('shows the audit trail with full records and an entity history, and says plainly what the server does not offer yet', async () => {
    await open('Audit trail', 'Audit trail');
    await page.getByRole('button', { name: 'History of endpoint:sip:persistentchat@contoso.com' }).first().click();
    await page.getByRole('table', { name: 'History of endpoint:sip:persistentchat@contoso.com, oldest first' }).waitFor();
    const filters = page.getByRole('search', { name: 'Audit filters' });
    await filters.getByLabel('Command').fill('MigratePool');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('table', { name: /entries, newest first/ }).getByText('CHG-1042 weekend migration window').first().waitFor();
    const entries = page.getByRole('region', { name: 'Entries', exact: true });
    await entries.getByText('Full record').first().click();
    await entries.locator('pre.json').first().waitFor();
    await expect(entries.locator('pre.json').first().textContent()).resolves.toContain('"correlationId"');

    await page.getByRole('button', { name: 'Show the current digest' }).click();
    await page.getByText(/is not available on this server yet|Current digest:/).first().waitFor();
    await page.getByRole('link', { name: 'Download the report as CSV' }).waitFor();
    // The report is the deployment's on display, not the server's default one.
    await expect(page.getByRole('link', { name: 'Download the report as CSV' }).getAttribute('href')).resolves.toMatch(/[?&]deployment=/);
    // Verify runs the server's own verification of the whole log (GET /api/audit/verify).
    await page.getByRole('form', { name: 'Verify the log' }).getByRole('button', { name: 'Verify' }).click();
    await page.getByText(/^Verified \d[\d,]* events: every link holds/).waitFor();
    await page.getByText('No signing key is configured').waitFor();
    await checked('audit');
  });

  it('shows each projection with its checkpoint, lag and state', async () => {
    await open('Projections', 'Projections');
    const table = page.getByRole('table', { name: 'Read models' });
    await table.getByRole('row', { name: /migrations/ }).waitFor();
    await expect(table.textContent()).resolves.toContain('live');
    await checked('projections');
  });

  it('hides what the role may not do: a reader sees no command forms and no audit trail; an admin sees them', async () => {
    const issued = await fetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer() }, body: JSON.stringify({ name: 'viewer', role: 'reader' }) });
    expect(issued.status).toBe(201);
    const secret = ((await issued.json()) as { secret: string }).secret;
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    try {
      const reader = await context.newPage();
      await reader.goto(server.url);
      await reader.getByLabel('API token').fill(secret);
      await reader.getByRole('button', { name: 'Sign in' }).last().click();
      await reader.locator('svg.diagram').waitFor();
      await reader.getByRole('link', { name: 'Audit trail', exact: true }).waitFor({ state: 'hidden' });
      await reader.goto(`${server.url}/#/endpoints`);
      await reader.getByRole('button', { name: 'Search' }).waitFor();
      await reader.locator('form[data-command="CreateEndpoint"]').waitFor({ state: 'hidden' });
      await reader.screenshot({ path: path.join(ARTIFACTS, 'endpoints-as-reader.png'), fullPage: true });
    } finally {
      await context.close();
    }
    await page.goto(`${server.url}/#/endpoints`);
    await page.getByRole('button', { name: 'Search' }).waitFor();
    await page.locator('form[data-command="CreateEndpoint"]').waitFor({ state: 'visible' });
    expect(await page.getByRole('link', { name: 'Audit trail', exact: true }).isVisible()).toBe(true);
  });
});
