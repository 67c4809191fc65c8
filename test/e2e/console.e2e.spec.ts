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
    // The server asks for a credential: the sign-in opens by itself on the first 401, and says so in
    // one sentence (not the API's error text, not twice).
    await page.getByLabel('API token').waitFor();
    await expect(page.locator('#sign-in-reason').textContent()).resolves.toBe('This server needs an API token: paste yours below to sign in.');
    const shownText = (await page.locator('body').innerText()) as string;
    expect(shownText).not.toMatch(/UNAUTHENTICATED|Authorization: Bearer </);
    // Live updates are off until the sign-in, and a screen reader hears it so.
    const live = page.locator('#live-status');
    await live.and(page.locator('[data-state="off"]')).waitFor();
    await expect(live.ariaSnapshot()).resolves.toBe('- status: "live updates: off"');
    // A token the server does not know: said so, in a sentence.
    await page.getByLabel('API token').fill('not-a-token-of-this-server');
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.locator('#sign-in-reason').filter({ hasText: 'The server does not know this token: check it and sign in again.' }).waitFor();
    await live.and(page.locator('[data-state="off"]')).waitFor();
    expect((await page.locator('body').innerText()) as string).not.toMatch(/UNAUTHENTICATED|Authorization: Bearer </);
    await page.getByLabel('API token').fill(TOKEN);
    await snapshot('sign-in');
    const signedInAt = Date.now();
    await page.getByRole('button', { name: 'Sign in' }).last().click();
    await page.getByRole('button', { name: 'Signed in' }).waitFor();
    // The stream refused before the sign-in connects again at once, not after a retry timer.
    await live.and(page.locator('[data-state="live"]')).waitFor({ timeout: 5000 });
    // (It took 2 to 3 s when the refused stream waited for a timer.)
    expect(Date.now() - signedInAt).toBeLessThan(1500);
    await expect(live.ariaSnapshot()).resolves.toBe('- status: "live updates: connected"');
    await expect(live.locator('.live-word').getAttribute('title')).resolves.toMatch(/^Live updates: connected/);
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

    await page.getByText(`Plan recorded: migration ${migrationId}. Run its steps below.`).waitFor();
    for (let step = 1; step <= 7; step++) {
      await page.getByRole('button', { name: /Run next step/ }).click();
      await page.getByText(`${step} of 7 steps completed`).waitFor();
      // Once it runs, nothing on screen calls it planned any more.
      if (step === 1) await page.getByText('Plan recorded').waitFor({ state: 'detached' });
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
    // Each compensation a row, in the order applied; no record dumped as JSON.
    const compensations = page.getByRole('table', { name: 'Compensations, in the order applied' });
    await compensations.waitFor();
    const rows = (await compensations.locator('tbody tr').allInnerTexts()).map((row) => row.split('\t'));
    expect(rows.map((cells) => cells[0]?.split('.')[0])).toEqual(['7', '6', '5', '4', '3', '2', '1']);
    expect(rows.every((cells) => cells[1] === 'compensated')).toBe(true);
    expect(rows.some((cells) => /Event|Pool|Endpoint|Principal/.test(cells[3] ?? '') && / at position \d+/.test(cells[3] ?? ''))).toBe(true);
    await page.getByText(/Rolled back by admin · reason: rooms missing after import · forced past \d+ later change/).waitFor();
    await page.getByRole('table', { name: 'Later changes the forced rollback went past' }).waitFor();
    expect(await page.locator('pre.json').count()).toBe(0);
    await expect(page.locator('main').innerText()).resolves.not.toMatch(/Plan recorded|\(Planned\)/);
    await page.getByRole('table', { name: 'Migrations of this deployment' }).getByRole('row', { name: new RegExp(migrationId) }).getByText('RolledBack').waitFor();
    await checked('migration-rolled-back');
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
    await page.getByRole('heading', { name: /Changes from position \d+ forward to \d+/ }).waitFor();
    await checked('time-travel');

    // The date-time field: a moment before the first change shows the empty topology.
    await page.getByLabel('Date and time (UTC)').fill('2001-01-01T00:00:00');
    await page.getByRole('button', { name: 'Go' }).click();
    await moment.filter({ hasText: 'before the first change' }).waitFor();
    await page.locator('figcaption', { hasText: 'Which SIP URI reached which pool at position 0' }).waitFor();
    expect(await page.locator('svg.diagram g.pool').count()).toBe(0);
  });

  it('time travel agrees with itself: going back mark by mark, what the change list calls added or changed is tagged so in the diagram, and what it calls removed is not drawn', async () => {
    await open('Topology', 'Topology');
    await open('Time travel', 'Time travel');
    const moment = page.locator('#moment-text');
    await moment.filter({ hasText: 'RollbackMigration' }).waitFor();
    await page.getByLabel('Moment in the history').focus();
    const seen: string[] = [];
    for (let back = 1; back <= 40; back++) {
      const before = /Position (\d+)/.exec((await moment.textContent()) ?? '')?.[1];
      await page.keyboard.press('ArrowLeft');
      const position = /Position (\d+)/.exec((await moment.textContent()) ?? '')?.[1];
      if (position === before) break; // the first mark
      await page.getByRole('heading', { name: `Changes from position ${before} back to ${position}` }).waitFor();
      await page.locator('figcaption', { hasText: `at position ${position}` }).waitFor();
      // Evaluated in the page (a string: this project's TypeScript has no DOM types).
      const check = (await page.evaluate(`(() => {
        const list = [...document.querySelectorAll('.diff')].find((card) => card.querySelector('h2')?.textContent.startsWith('Changes from position'));
        const items = [...list.querySelectorAll('li[data-change]')].map((li) => ({ ...li.dataset }));
        const drawnAs = { endpoint: 'g.uri-endpoint', principal: 'g.uri-wellKnownUser', legacyPool: 'g.pool-legacy', persistentChatPool: 'g.pool-persistentChat' };
        const drawn = (entity, key) => [...document.querySelectorAll('svg.diagram ' + drawnAs[entity])].filter((g) => (g.dataset.sip ?? g.dataset.pool) === key);
        const problems = [];
        for (const { change, entity, key } of items) {
          if (!drawnAs[entity]) continue;
          for (const g of drawn(entity, key)) {
            if (change === 'removed') problems.push(entity + ' ' + key + ' is listed removed but drawn');
            else if (!g.classList.contains('changed-' + change)) problems.push(entity + ' ' + key + ' is listed ' + change + ' but drawn as ' + g.getAttribute('class'));
          }
        }
        for (const g of document.querySelectorAll('svg.diagram g[class*="changed-"]')) {
          const tag = /changed-(\\w+)/.exec(g.getAttribute('class'))[1];
          const key = g.dataset.sip ?? g.dataset.pool;
          const label = g.querySelector('.change-label')?.textContent;
          if (label !== tag) problems.push(key + ' is drawn ' + tag + ' but labelled ' + label);
          if (g.matches('g.uri-defaultPoolContact')) continue;
          if (!items.some((item) => item.key === key && item.change === tag && g.matches(drawnAs[item.entity]))) problems.push(key + ' is drawn ' + tag + ' but not listed so');
        }
        return { problems, items: items.map((i) => i.change + ' ' + i.entity + ' ' + i.key) };
      })()`)) as { problems: string[]; items: string[] };
      // And the list says what the topology on display has (added, changed) or has not (removed).
      const shown = (await get(`/api/topology?atPosition=${position}`)) as Record<string, { sipAddress?: string; fqdn?: string; domain?: string }[]>;
      const keysOf = { principal: 'principals', endpoint: 'endpoints', legacyPool: 'legacyPools', persistentChatPool: 'persistentChatPools', sipDomain: 'sipDomains' } as const;
      for (const item of check.items) {
        const [change, entity, key] = item.split(' ') as [string, keyof typeof keysOf, string];
        const present = (shown[keysOf[entity]] ?? []).some((e) => (e.sipAddress ?? e.fqdn ?? e.domain) === key);
        if (present !== (change !== 'removed')) check.problems.push(`${item}, but at position ${position} it is ${present ? '' : 'not '}there`);
      }
      expect({ position, problems: check.problems }).toEqual({ position, problems: [] });
      seen.push(...check.items);
      if (seen.includes('added principal sip:ocschat@contoso.com')) break;
    }
    // The walk crossed the migration's hand-over of the well-known SIP URI, both ways round.
    expect(seen).toEqual(expect.arrayContaining(['added principal sip:ocschat@contoso.com', 'removed principal sip:ocschat@contoso.com']));
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

  it('at 1,400 px wraps or scrolls what does not fit, never cuts it: tables, diagram labels, the audit metadata', async () => {
    // A deployment whose migration completed and whose legacy pool is decommissioned: the longest labels.
    const wide = 'wide';
    await seedTopology(server.url, wide);
    const steps: [string, object][] = [
      ['MigratePool', { legacyPoolFqdn: 'gc.contoso.com', targetPoolFqdn: 'pcpool.contoso.com', reason: 'CHG-2001 move the chat rooms of the whole Contoso engineering department' }],
      ['RunMigration', {}],
      ['DecommissionLegacyPool', { fqdn: 'gc.contoso.com', reason: 'CHG-2002 retire the Lync 2010 Group Chat servers after the data migrated' }],
      ['CreateEndpoint', { sipAddress: 'sip:engineering-platform-architecture-review-board@contoso.com', persistentChatPoolFqdn: 'pcpool.contoso.com', displayName: 'Engineering platform architecture review board (weekly)' }],
    ];
    let migrationId: string | undefined;
    for (const [name, body] of steps) {
      const result = await command(server.url, name, { deployment: wide, ...(name === 'RunMigration' ? { migrationId } : {}), ...body });
      expect({ name, status: result.status, body: result.status === 200 ? undefined : result.body }).toEqual({ name, status: 200, body: undefined });
      migrationId ??= (result.body as { migrationId?: string }).migrationId;
    }
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const narrow = await context.newPage();
    narrow.on('pageerror', (error) => pageErrors.push(error.message));
    // Evaluated in the page (a string: this project's TypeScript has no DOM types): every cell whose
    // text is wider than the cell, every table wider than what holds it, every diagram label outside its box.
    const clipped = `(() => {
      const problems = [];
      const name = (el) => el.tagName.toLowerCase() + ' "' + el.textContent.trim().slice(0, 60) + '"';
      for (const cell of document.querySelectorAll('main td, main th, main caption')) {
        if (cell.scrollWidth > cell.clientWidth + 1) problems.push(name(cell) + ' is ' + cell.scrollWidth + ' px wide in ' + cell.clientWidth);
      }
      for (const table of document.querySelectorAll('main table')) {
        const holder = table.parentElement;
        if (table.getBoundingClientRect().right > holder.getBoundingClientRect().right + 1) problems.push('table "' + table.caption?.textContent + '" overflows its container');
        if (table.getBoundingClientRect().right > document.documentElement.clientWidth) problems.push('table "' + table.caption?.textContent + '" overflows the window');
      }
      for (const text of document.querySelectorAll('svg.diagram g text')) {
        const box = text.closest('g').querySelector('rect').getBBox();
        const label = text.getBBox();
        if (label.x < box.x || label.x + label.width > box.x + box.width + 0.5 || label.y < box.y || label.y + label.height > box.y + box.height + 0.5) problems.push('label "' + text.textContent + '" leaves its box');
      }
      return problems;
    })()`;
    try {
      await narrow.goto(server.url);
      await narrow.getByLabel('API token').fill(TOKEN);
      await narrow.getByRole('button', { name: 'Sign in' }).last().click();
      await narrow.getByLabel('Deployment').fill(wide);
      await narrow.getByRole('button', { name: 'Switch' }).click();
      await narrow.locator('svg.diagram [data-pool="gc.contoso.com"].status-decommissioned').waitFor();
      await narrow.getByRole('table', { name: 'Pools' }).getByText(/data migrated to pcpool/).waitFor();
      await narrow.screenshot({ path: path.join(ARTIFACTS, 'topology-1400.png'), fullPage: true });
      expect(await narrow.evaluate(clipped)).toEqual([]);

      await narrow.getByRole('link', { name: 'Time travel', exact: true }).click();
      await narrow.getByRole('heading', { level: 1, name: 'Time travel' }).waitFor();
      await narrow.locator('#moment-text').filter({ hasText: 'CreateEndpoint' }).waitFor();
      // Back before the endpoint and the decommissioning: the pool tagged "changed" in the diagram.
      await narrow.getByRole('button', { name: '◀ Earlier' }).click();
      await narrow.getByRole('heading', { name: /Changes from position \d+ back to/ }).waitFor();
      await narrow.locator('#moment-text').filter({ hasText: 'DecommissionLegacyPool' }).waitFor();
      await narrow.getByRole('button', { name: '◀ Earlier' }).click();
      await narrow.locator('svg.diagram [data-pool="gc.contoso.com"].changed-changed .change-label').waitFor();
      await narrow.screenshot({ path: path.join(ARTIFACTS, 'time-travel-1400.png'), fullPage: true });
      expect(await narrow.evaluate(clipped)).toEqual([]);

      await narrow.getByRole('link', { name: 'Audit trail', exact: true }).click();
      await narrow.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
      const entries = narrow.getByRole('region', { name: 'Entries', exact: true });
      await entries.getByText('Full record').first().waitFor();
      for (const summary of await entries.getByText('Full record').all()) await summary.click();
      await entries.locator('pre.json').first().waitFor();
      await narrow.screenshot({ path: path.join(ARTIFACTS, 'audit-1400.png'), fullPage: true, clip: { x: 0, y: 0, width: 1400, height: 1600 } });
      expect(await narrow.evaluate(clipped)).toEqual([]);

      // And the other pages, with their widest tables.
      await narrow.goto(`${server.url}/#/migration?id=${migrationId}`);
      await narrow.getByRole('table', { name: 'Steps' }).getByText('MigrationStepCompleted').or(narrow.getByRole('table', { name: 'Steps' }).getByText('PoolStopped')).first().waitFor();
      await narrow.screenshot({ path: path.join(ARTIFACTS, 'migration-1400.png'), fullPage: true });
      expect(await narrow.evaluate(clipped)).toEqual([]);
      for (const [link, ready] of [
        ['Endpoints', narrow.getByRole('table', { name: /found/ })],
        ['Projections', narrow.getByRole('table', { name: 'Read models' }).getByRole('row', { name: /migrations/ })],
      ] as const) {
        await narrow.getByRole('link', { name: link, exact: true }).click();
        await ready.waitFor();
        expect({ link, problems: await narrow.evaluate(clipped) }).toEqual({ link, problems: [] });
      }
    } finally {
      await context.close();
    }
  });

  /** A browser page signed in with a new token of `role`; every 403 the server answers it is kept. */
  async function signedInAs(role: string, name: string): Promise<{ page: Page; secret: string; refused: string[]; close: () => Promise<void> }> {
    const issued = await fetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer() }, body: JSON.stringify({ name, role }) });
    expect(issued.status).toBe(201);
    const secret = ((await issued.json()) as { secret: string }).secret;
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, bypassCSP: true });
    const other = await context.newPage();
    const refused: string[] = [];
    other.on('pageerror', (error) => pageErrors.push(error.message));
    other.on('response', (response) => {
      if (response.status() === 403) refused.push(`${response.request().method()} ${new URL(response.url()).pathname}`);
    });
    await other.goto(server.url);
    await other.getByLabel('API token').fill(secret);
    await other.getByRole('button', { name: 'Sign in' }).last().click();
    await other.locator('svg.diagram').waitFor();
    return { page: other, secret, refused, close: () => context.close() };
  }

  /** The reason an element gives for being disabled: its title, and what its aria-describedby reads. */
  async function whyDisabled(control: ReturnType<Page['locator']>): Promise<{ disabled: boolean; title: string | null; described: string }> {
    const ids = ((await control.getAttribute('aria-describedby')) ?? '').split(' ').filter(Boolean);
    const described: string[] = [];
    for (const id of ids) described.push(((await control.page().locator(`[id="${id}"]`).textContent()) ?? '').trim());
    return { disabled: await control.isDisabled(), title: await control.getAttribute('title'), described: described.join(' ') };
  }

  it('as a reader: no audit trail link, every command control disabled with the reason on hover and for screen readers, and no request refused', async () => {
    const reader = await signedInAs('reader', 'viewer');
    try {
      const session = (await (await fetch(`${server.url}/api/session`, { headers: bearer(reader.secret) })).json()) as { roles: string[]; denied: Record<string, string> };
      expect(session.roles).toEqual(['reader']);
      const mayNotCreate = 'viewer has role reader and may not run CreateEndpoint; it needs admin or operator.';
      expect(session.denied['CreateEndpoint']).toBe(mayNotCreate);
      const { page: p, refused } = reader;
      await p.getByRole('link', { name: 'Audit trail', exact: true }).waitFor({ state: 'hidden' });

      await p.getByRole('link', { name: 'Endpoints', exact: true }).click();
      const create = p.getByRole('form', { name: 'Create an endpoint' });
      // Said once, above the section, in the server's words.
      await expect(p.locator('section[data-command="CreateEndpoint"] > .notice.permission').textContent()).resolves.toBe(mayNotCreate);
      expect(await p.getByText(mayNotCreate, { exact: true }).filter({ visible: true }).count()).toBe(1);
      expect(await whyDisabled(create.getByRole('button', { name: 'Preview (what-if)' }))).toEqual({ disabled: true, title: mayNotCreate, described: expect.stringContaining(mayNotCreate) });
      expect(await create.getByLabel('SIP address').isDisabled()).toBe(true);
      // Reading stays open: the search works, its Remove buttons say why they do not.
      const search = p.getByRole('search', { name: 'Search endpoints' });
      expect(await search.getByRole('button', { name: 'Search' }).isEnabled()).toBe(true);
      await search.getByRole('button', { name: 'Search' }).click();
      const remove = p.getByRole('button', { name: 'Remove sip:persistentchat@contoso.com' });
      expect(await whyDisabled(remove)).toEqual({ disabled: true, title: expect.stringMatching(/may not run RemoveEndpoint; it needs admin or operator/), described: expect.stringMatching(/RemoveEndpoint/) });
      await p.screenshot({ path: path.join(ARTIFACTS, 'endpoints-as-reader.png'), fullPage: true });
      expect(await accessibilityProblems(p)).toEqual([]);

      await p.goto(`${server.url}/#/migration?id=${migrationId}`);
      await p.getByRole('heading', { name: `Migration ${migrationId}` }).waitFor();
      expect(await whyDisabled(p.getByRole('button', { name: 'Check plan' }))).toMatchObject({ disabled: true, title: expect.stringMatching(/may not run MigratePool/) });
      expect(await whyDisabled(p.getByRole('button', { name: /Run next step/ }))).toMatchObject({ disabled: true, title: expect.stringMatching(/may not run RunMigration/) });
      await p.getByRole('button', { name: 'Download runbook (.ps1)' }).last().waitFor();
      expect(await p.getByRole('button', { name: 'Download runbook (.ps1)' }).last().isEnabled()).toBe(true);

      // Time travel without the audit trail: the slider says why; the date field still goes back.
      await p.getByRole('link', { name: 'Time travel', exact: true }).click();
      await p.getByRole('heading', { level: 1, name: 'Time travel' }).waitFor();
      expect(await whyDisabled(p.getByLabel('Moment in the history'))).toMatchObject({ disabled: true, title: expect.stringMatching(/may not read the audit trail; it needs admin or auditor/) });
      await p.locator('svg.diagram').waitFor();
      await p.getByLabel('Date and time (UTC)').fill('2001-01-01T00:00:00');
      await p.getByRole('button', { name: 'Go' }).click();
      await p.locator('figcaption', { hasText: 'Which SIP URI reached which pool at position 0' }).waitFor();
      await p.screenshot({ path: path.join(ARTIFACTS, 'time-travel-as-reader.png'), fullPage: true });

      expect(refused).toEqual([]);
      expect(await p.locator('body').innerText()).not.toContain('FORBIDDEN');

      // Another caller in the same tab: the admin finds everything open again, no reason left over.
      await p.getByRole('button', { name: 'Signed in' }).click();
      await p.getByRole('button', { name: 'Sign out' }).click();
      await p.getByLabel('API token').fill(TOKEN);
      await p.getByRole('button', { name: 'Sign in' }).last().click();
      await p.getByRole('link', { name: 'Audit trail', exact: true }).waitFor();
      await p.getByRole('link', { name: 'Endpoints', exact: true }).click();
      expect(await p.getByRole('form', { name: 'Create an endpoint' }).getByRole('button', { name: 'Preview (what-if)' }).isEnabled()).toBe(true);
      expect(await p.locator('.notice.permission, [id^="denied-"]').count()).toBe(0);
    } finally {
      await reader.close();
    }
  });

  it('as an auditor: the audit trail and time travel in full, commands disabled with the reason, and no request refused', async () => {
    const auditor = await signedInAs('auditor', 'inspector');
    try {
      const { page: p, refused } = auditor;
      await p.getByRole('link', { name: 'Audit trail', exact: true }).click();
      await p.getByRole('table', { name: /entries, newest first/ }).waitFor();
      await p.getByRole('button', { name: 'Show the current digest' }).click();
      await p.getByText(/Current digest:|is not available on this server yet/).first().waitFor();

      await p.getByRole('link', { name: 'Time travel', exact: true }).click();
      await p.locator('#moment-text').filter({ hasText: 'CreateEndpoint' }).waitFor();
      expect(await p.getByLabel('Moment in the history').isEnabled()).toBe(true);

      await p.getByRole('link', { name: 'Migration', exact: true }).click();
      await p.getByRole('heading', { level: 1, name: 'Migration' }).waitFor();
      const plan = p.getByRole('form', { name: 'Plan a migration' });
      await plan.getByText('inspector has role auditor and may not run MigratePool; it needs admin or operator.').waitFor();
      expect(await whyDisabled(plan.getByRole('button', { name: 'Check plan' }))).toMatchObject({ disabled: true, title: 'inspector has role auditor and may not run MigratePool; it needs admin or operator.' });
      await p.screenshot({ path: path.join(ARTIFACTS, 'migration-as-auditor.png'), fullPage: true });

      await p.getByRole('link', { name: 'Endpoints', exact: true }).click();
      expect(await whyDisabled(p.getByRole('form', { name: 'Remove an endpoint' }).getByRole('button', { name: 'Preview (what-if)' }))).toMatchObject({
        disabled: true,
        title: expect.stringMatching(/may not run RemoveEndpoint/),
      });
      expect(refused).toEqual([]);
    } finally {
      await auditor.close();
    }
  });

  it('as an operator: runs migrations, but the rollback (for admins) is disabled with the reason', async () => {
    const operator = await signedInAs('operator', 'runner');
    try {
      const { page: p, refused } = operator;
      const { migrations } = (await get('/api/migrations?deployment=wide')) as { migrations: { migrationId: string; status: string }[] };
      expect(migrations[0]?.status).toBe('Completed');
      await p.evaluate(`sessionStorage.setItem('topology-ledger.deployment', 'wide')`);
      await p.goto(`${server.url}/#/migration?id=${migrations[0]!.migrationId}`);
      await p.getByRole('heading', { name: `Migration ${migrations[0]!.migrationId}` }).waitFor();
      expect(await p.getByRole('button', { name: 'Check plan' }).isEnabled()).toBe(true);
      const mayNot = 'runner has role operator and may not run RollbackMigration; it needs admin.';
      await p.getByRole('form', { name: 'Roll back the migration' }).getByText(mayNot).waitFor();
      expect(await whyDisabled(p.getByRole('button', { name: 'Roll back' }))).toMatchObject({ disabled: true, title: mayNot, described: expect.stringContaining(mayNot) });
      expect(await p.getByLabel('Rollback reason').isDisabled()).toBe(true);
      await p.getByRole('link', { name: 'Audit trail', exact: true }).waitFor({ state: 'hidden' });
      expect(refused).toEqual([]);
    } finally {
      await operator.close();
    }
  });

  it('leaves everything usable for an admin', async () => {
    await page.goto(`${server.url}/#/endpoints`);
    await page.getByRole('button', { name: 'Search' }).waitFor();
    const create = page.getByRole('form', { name: 'Create an endpoint' });
    expect(await create.getByRole('button', { name: 'Preview (what-if)' }).isEnabled()).toBe(true);
    expect(await create.getByRole('button', { name: 'Preview (what-if)' }).getAttribute('title')).toBeNull();
    expect(await page.locator('.notice.permission').count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Audit trail', exact: true }).isVisible()).toBe(true);
  });
});
