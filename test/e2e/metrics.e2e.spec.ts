import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bearer, command } from '../support/http';
import { startServer, type RunningServer } from '../support/server';

const METRICS_TOKEN = 'scraper-token-0123456789abcdef';

function scrape(server: RunningServer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/metrics`, { headers });
}

/** The value of one series, e.g. `topo_commands_total{command="RegisterSipDomain",outcome="accepted",code=""}`. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-metrics-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('counts commands by outcome, HTTP requests by route, the projections and the process, for METRICS_TOKEN, admins and auditors only', async () => {
    const server = await startServer({ DATA_DIR: path.join(root, 'data'), METRICS_TOKEN });
    try {
      expect((await command(server.url, 'RegisterSipDomain', { domain: 'contoso.com' })).status).toBe(200);
      expect((await command(server.url, 'RegisterSipDomain', { domain: 'fabrikam.com' })).status).toBe(200);
      const refused = await command(server.url, 'RegisterSipDomain', { domain: 'not a domain' });
      expect(refused.status).toBe(400);
      const reader = await fetch(`${server.url}/api/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer() },
        body: JSON.stringify({ name: 'dashboard', role: 'reader' }),
      });
      const auditor = await fetch(`${server.url}/api/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer() },
        body: JSON.stringify({ name: 'auditor', role: 'auditor' }),
      });
      const readerSecret = ((await reader.json()) as { secret: string }).secret;
      const auditorSecret = ((await auditor.json()) as { secret: string }).secret;

      expect((await scrape(server)).status).toBe(401);
      expect((await scrape(server, bearer('wrong-token-0123456789abcdef'))).status).toBe(401);
      expect((await scrape(server, bearer(readerSecret))).status).toBe(403);
      expect((await scrape(server, bearer(auditorSecret))).status).toBe(200);
      expect((await scrape(server, bearer())).status).toBe(200);
      // An observation that finds one endpoint made outside the ledger: one observation, one open drift item.
      const expected = (await (await fetch(`${server.url}/api/observations/expected`, { headers: bearer() })).json()) as Record<string, unknown>;
      const observed = await fetch(`${server.url}/api/observations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer() },
        body: JSON.stringify({ ...expected, endpoints: [{ sipAddress: 'sip:outside@contoso.com', poolFqdn: 'pcpool.contoso.com' }] }),
      });
      expect(observed.status).toBe(200);
      const { position } = (await observed.json()) as { position: number };
      await fetch(`${server.url}/api/drift?minPosition=${position}`, { headers: bearer() });
      const answer = await scrape(server, bearer(METRICS_TOKEN));
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^text\/plain;.*version=0\.0\.4/);
      const text = await answer.text();

      expect(value(text, 'topo_commands_total{command="RegisterSipDomain",outcome="accepted",code=""}')).toBe(2);
      const refusedCode = (refused.body as { error: { code: string } }).error.code;
      expect(value(text, `topo_commands_total{command="RegisterSipDomain",outcome="refused",code="${refusedCode}"}`)).toBe(1);
      expect(value(text, 'topo_command_duration_seconds_count{command="RegisterSipDomain",outcome="accepted"}')).toBe(2);
      expect(value(text, 'topo_http_requests_total{method="POST",route="/api/commands/:name",status="200"}')).toBe(2);
      expect(value(text, 'topo_http_requests_total{method="GET",route="/metrics",status="401"}')).toBe(2);
      // Two commands' events, and the tokens' (the first start's admin token, then two more).
      expect(value(text, 'topo_append_batch_events_count{stream_kind="topology"}')).toBe(2);
      expect(value(text, 'topo_event_store_head_position')).toBeGreaterThanOrEqual(5);
      expect(text).toMatch(/^topo_projection_checkpoint\{projection="[^"]+"\} \d+$/m);
      expect(text).toMatch(/^topo_projection_lag_events\{projection="[^"]+"\} \d+$/m);
      expect(text).toMatch(/^topo_projection_lag_seconds\{projection="[^"]+"\} [\d.]+$/m);
      expect(value(text, 'topo_observations{deployment="default"}')).toBe(1);
      expect(value(text, 'topo_drift_open{deployment="default"}')).toBe(1);
      expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
      // No credential or path text of a client becomes a label.
      expect(text).not.toContain(METRICS_TOKEN);
      expect(text).not.toContain('not a domain');
    } finally {
      await server.stop();
    }
  });

  it('shows in a scrape right after a command the checkpoint and lag the projections have at that moment, not those of the scrape before', async () => {
    const server = await startServer({ DATA_DIR: path.join(root, 'data'), METRICS_TOKEN });
    try {
      const checkpoints = async (): Promise<{ head: number; drift: number; lag: number }> => {
        const text = await (await scrape(server, bearer(METRICS_TOKEN))).text();
        return {
          head: value(text, 'topo_event_store_head_position')!,
          drift: value(text, 'topo_projection_checkpoint{projection="drift"}')!,
          lag: value(text, 'topo_projection_lag_events{projection="drift"}')!,
        };
      };
      const before = await checkpoints();
      for (const domain of ['contoso.com', 'fabrikam.com', 'litwareinc.com']) {
        const accepted = await command(server.url, 'RegisterSipDomain', { domain });
        expect(accepted.status).toBe(200);
        const position = (accepted.body as { position: number }).position;
        // The drift read model has applied the command once this answers.
        expect((await fetch(`${server.url}/api/drift?minPosition=${position}`, { headers: bearer() })).status).toBe(200);
        const after = await checkpoints();
        expect(after.head).toBeGreaterThanOrEqual(position);
        expect(after.drift).toBeGreaterThanOrEqual(position);
        expect(after.lag).toBe(after.head - after.drift);
        expect(after.drift).toBeGreaterThan(before.drift);
      }
    } finally {
      await server.stop();
    }
  });

  it('is anonymous only with AUTHENTICATION=off and no METRICS_TOKEN', async () => {
    const open = await startServer({ DATA_DIR: path.join(root, 'open'), AUTHENTICATION: 'off' });
    try {
      expect((await scrape(open)).status).toBe(200);
    } finally {
      await open.stop();
    }
    const guarded = await startServer({ DATA_DIR: path.join(root, 'guarded'), AUTHENTICATION: 'off', METRICS_TOKEN });
    try {
      expect((await scrape(guarded)).status).toBe(401);
      expect((await scrape(guarded, bearer(METRICS_TOKEN))).status).toBe(200);
    } finally {
      await guarded.stop();
    }
  });
});
