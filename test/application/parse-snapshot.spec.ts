import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument, parseSnapshotJson, parseTopologyXml } from '../../src/application/observations/parse-snapshot';
import { DomainError } from '../../src/domain';

const fixture = (name: string): string => fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'observations', name), 'utf8');

function refusal(run: () => unknown): DomainError {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('the topology document (Get-CsTopology -AsXml)', () => {
  it('reads a Standard Edition topology: SIP domains, and the Persistent Chat pool with its computers and site; other services ignored', () => {
    const snapshot = parseTopologyXml(fixture('standard-edition-topology.xml'));
    expect(snapshot).toEqual({
      collectedAt: null,
      source: 'topologyXml',
      sipDomains: [
        { name: 'contoso.com', isDefault: true },
        { name: 'fabrikam.com', isDefault: false },
      ],
      persistentChatPools: [{ fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2.contoso.com'], site: 'Redmond' }],
    });
  });

  it('reads a Topology Builder document (.tbxml): sites hold their clusters, services name them by UniqueId', () => {
    expect(parseTopologyXml(fixture('topology-builder.tbxml'))).toEqual({
      collectedAt: null,
      source: 'topologyXml',
      sipDomains: [{ name: 'contoso.com', isDefault: true }],
      persistentChatPools: [{ fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2.contoso.com', 'pc3.contoso.com'], site: 'Dublin' }],
    });
  });

  it('decodes character references and the predefined entities in text and attribute values, as a Topology Builder export writes them', () => {
    const exported = fixture('topology-builder.tbxml')
      .replace('>Dublin</Name>', '>Montr&#xE9;al &amp; Qu&#233;bec</Name>')
      .replace('Fqdn="pc2.contoso.com"', 'Fqdn="pc2&#46;contoso&#x2E;com"')
      .replace('DefaultDomain="contoso.com"', 'DefaultDomain="contoso&#x2e;com"');
    expect(parseTopologyXml(exported)).toEqual({
      collectedAt: null,
      source: 'topologyXml',
      sipDomains: [{ name: 'contoso.com', isDefault: true }],
      persistentChatPools: [{ fqdn: 'pcpool.contoso.com', servers: ['pc1.contoso.com', 'pc2.contoso.com', 'pc3.contoso.com'], site: 'Montr\u00e9al & Qu\u00e9bec' }],
    });
  });

  it('refuses a reference XML does not define (an HTML name, a forbidden code point), naming it', () => {
    const doc = (name: string): string => fixture('topology-builder.tbxml').replace('>Dublin</Name>', `>Dublin${name}</Name>`);
    expect(refusal(() => parseTopologyXml(doc('&eacute;')))).toMatchObject({ code: 'INVALID_SNAPSHOT', details: { problem: 'it contains &eacute;' } });
    expect(refusal(() => parseTopologyXml(doc('&#0;')))).toMatchObject({ code: 'INVALID_SNAPSHOT', details: { problem: 'it contains &#0;' } });
  });

  it('refuses a DTD with an external entity (XXE), naming it, before reading anything', () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE Topology [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Topology xmlns="urn:schema:Microsoft.Rtc.Management.Deploy.Topology.2008"><InternalDomains DefaultDomain="&xxe;"/></Topology>`;
    const error = refusal(() => parseTopologyXml(xxe));
    expect(error).toMatchObject({ code: 'INVALID_SNAPSHOT', category: 'invalid' });
    expect(error.message).toContain('DOCTYPE');
  });

  it('refuses the billion laughs', () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><Topology xmlns="urn:schema:Microsoft.Rtc.Management.Deploy.Topology.2008">&lol2;</Topology>`;
    expect(refusal(() => parseTopologyXml(laughs))).toMatchObject({ code: 'INVALID_SNAPSHOT' });
  });

  it('refuses elements nested beyond what the parser reads with a 400 of its own, not a server fault', () => {
    const deep = `<Topology xmlns="urn:schema:Microsoft.Rtc.Management.Deploy.Topology.2008">${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}</Topology>`;
    expect(refusal(() => parseTopologyXml(deep))).toMatchObject({ code: 'INVALID_SNAPSHOT', details: { path: '/' } });
  });

  it('refuses XML that is not well-formed, or not a topology, naming where', () => {
    expect(refusal(() => parseTopologyXml('<Topology><Clusters></Topology>')).details['path']).toMatch(/^line \d+, column \d+$/);
    expect(refusal(() => parseTopologyXml('<Other xmlns="urn:x"/>')).details).toMatchObject({ path: '/Other' });
  });
});

describe('the snapshot (JSON, the product schema)', () => {
  const valid = {
    format: 'topology-ledger.snapshot',
    schemaVersion: 1,
    collectedAt: '2026-12-07T10:00:00+01:00',
    sipDomains: [{ name: 'Contoso.com', isDefault: true }],
    endpoints: [{ sipAddress: 'SIP:Chat@Contoso.com', poolFqdn: 'pcpool.contoso.com' }],
  };

  it('reads a valid snapshot, lower-casing addresses (R2) and the time as UTC', () => {
    expect(parseDocument(Buffer.from(JSON.stringify(valid)), 'json')).toEqual({
      collectedAt: '2026-12-07T09:00:00.000Z',
      source: 'collector',
      sipDomains: [{ name: 'contoso.com', isDefault: true }],
      endpoints: [{ sipAddress: 'sip:chat@contoso.com', poolFqdn: 'pcpool.contoso.com' }],
    });
  });

  it('refuses a document that does not match, naming the JSON path and what was expected', () => {
    const wrongType = refusal(() => parseSnapshotJson(JSON.stringify({ ...valid, endpoints: [{ sipAddress: 5, poolFqdn: 'p.contoso.com' }] })));
    expect(wrongType.details).toEqual({ field: '$.endpoints[0].sipAddress', path: '$.endpoints[0].sipAddress', expected: 'a value of type string' });
    expect(refusal(() => parseSnapshotJson(JSON.stringify({ ...valid, schemaVersion: 2 }))).details).toMatchObject({ path: '$.schemaVersion', expected: '1' });
    expect(refusal(() => parseSnapshotJson(JSON.stringify({ ...valid, pools: [] }))).details).toMatchObject({ path: '$.pools' });
    const { collectedAt: _omitted, ...noTime } = valid;
    expect(refusal(() => parseSnapshotJson(JSON.stringify(noTime))).details).toMatchObject({ path: '$.collectedAt' });
    expect(refusal(() => parseSnapshotJson('{'))).toMatchObject({ code: 'INVALID_SNAPSHOT' });
  });

  it('refuses an address without its sip: prefix (R1) and an entry listed twice, naming where', () => {
    expect(refusal(() => parseSnapshotJson(JSON.stringify({ ...valid, endpoints: [{ sipAddress: 'chat@contoso.com', poolFqdn: 'p.contoso.com' }] })))).toMatchObject({
      code: 'INVALID_SIP_ADDRESS',
      rule: 'R1',
      field: '$.endpoints[0].sipAddress',
    });
    const twice = { ...valid, endpoints: [valid.endpoints[0], valid.endpoints[0]] };
    expect(refusal(() => parseSnapshotJson(JSON.stringify(twice))).details).toMatchObject({ path: '$.endpoints[1]' });
  });
});
