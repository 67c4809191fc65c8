import Ajv, { type ErrorObject } from 'ajv';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import {
  contactDistinguishedName,
  type Fqdn,
  InvalidSnapshot,
  type ObservedEndpoint,
  type ObservedLegacyPool,
  type ObservedPersistentChatPool,
  type ObservedPrincipal,
  type ObservedSipDomain,
  parseContactDistinguishedName,
  parseFqdn,
  parseSipUri,
  type SipUri,
  type Snapshot,
} from '../../domain';
import { SNAPSHOT_JSON_SCHEMA } from './snapshot-schema';

/** The media types `POST /api/observations` reads. */
export type DocumentKind = 'json' | 'xml';

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const validateSnapshot = ajv.compile(SNAPSHOT_JSON_SCHEMA);

/** Reads a document into a snapshot, or throws InvalidSnapshot / a domain parser's error naming where. */
export function parseDocument(document: Buffer | string, kind: DocumentKind): Snapshot {
  const text = typeof document === 'string' ? document : document.toString('utf8');
  return kind === 'json' ? parseSnapshotJson(text) : parseTopologyXml(text);
}

// ---------------------------------------------------------------------------------------------
// The product's own JSON snapshot

/** `$.endpoints[3].sipAddress` from ajv's `/endpoints/3/sipAddress`. */
function jsonPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1);
  if (extra !== undefined) parts.push(extra);
  return '$' + parts.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, '/').replace(/~0/g, '~')}`)).join('');
}

function expectedOf(error: ErrorObject): { path: string; expected: string } {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: jsonPath(error.instancePath, String(params['missingProperty'])), expected: 'a value (the field is required)' };
    case 'additionalProperties':
      return { path: jsonPath(error.instancePath, String(params['additionalProperty'])), expected: 'no such field (it is not part of the schema)' };
    case 'const':
      return { path: jsonPath(error.instancePath), expected: JSON.stringify(params['allowedValue']) };
    case 'enum':
      return { path: jsonPath(error.instancePath), expected: `one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'type':
      return { path: jsonPath(error.instancePath), expected: `a value of type ${String(params['type'])}` };
    case 'pattern':
      return { path: jsonPath(error.instancePath), expected: 'an ISO-8601 time with a time zone, e.g. 2026-12-07T19:20:30Z' };
    default:
      return { path: jsonPath(error.instancePath), expected: `a value that ${error.message ?? 'matches the schema'}` };
  }
}

interface RawSnapshot {
  collectedAt: string;
  sipDomains?: { name: string; isDefault: boolean }[];
  persistentChatPools?: { fqdn: string; servers: string[]; site?: string | null; activeServers?: string[]; poolState?: 'Normal' | 'FailedOver'; status?: 'Installed' | 'Started' | 'Stopped' }[];
  legacyPools?: { fqdn: string; version: 'Lync2010' | 'OCS2007R2'; wellKnownSipAddress: string; status?: 'Started' | 'Stopped' | 'Decommissioned' }[];
  endpoints?: { sipAddress: string; poolFqdn: string; displayName?: string | null; distinguishedName?: string }[];
  principals?: { sipAddress: string; kind: 'user' | 'contact' | 'wellKnownUser'; displayName?: string | null; legacyPoolFqdn?: string }[];
  principalLookups?: string[];
}

export function parseSnapshotJson(text: string): Snapshot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidSnapshot('$', 'a JSON document', (error as Error).message);
  }
  if (!validateSnapshot(value)) {
    const [first] = validateSnapshot.errors ?? [];
    if (first === undefined) throw new InvalidSnapshot('$', 'a snapshot');
    const { path, expected } = expectedOf(first);
    throw new InvalidSnapshot(path, expected);
  }
  return normalize(value as RawSnapshot);
}

/** Unique keys within one section: the second occurrence is the error. */
function unique<T>(items: readonly T[], key: (item: T) => string, section: string): T[] {
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const k = key(item);
    if (seen.has(k)) throw new InvalidSnapshot(`$.${section}[${index}]`, `each entry once`, `${k} is listed twice`);
    seen.add(k);
  });
  return items as T[];
}

/** An endpoint's Identity: its contact's DN, written as the ledger writes one. */
function contactDnOf(dn: string, path: string): string {
  const contact = parseContactDistinguishedName(dn);
  if (!contact) throw new InvalidSnapshot(path, 'the distinguished name of an application contact, CN={guid},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=...', dn);
  return contactDistinguishedName(contact.guid, contact.forestDomain);
}

function normalize(raw: RawSnapshot): Snapshot {
  const time = new Date(raw.collectedAt);
  if (Number.isNaN(time.getTime())) throw new InvalidSnapshot('$.collectedAt', 'an ISO-8601 time that exists', raw.collectedAt);
  const fqdns = (values: readonly string[], path: string): Fqdn[] => values.map((v, i) => parseFqdn(v, `${path}[${i}]`));
  const snapshot: {
    -readonly [K in keyof Snapshot]: Snapshot[K];
  } = { collectedAt: time.toISOString(), source: 'collector' };
  if (raw.sipDomains) {
    const domains: ObservedSipDomain[] = raw.sipDomains.map((d, i) => ({ name: parseFqdn(d.name, `$.sipDomains[${i}].name`), isDefault: d.isDefault }));
    snapshot.sipDomains = unique(domains, (d) => d.name, 'sipDomains');
    if (domains.filter((d) => d.isDefault).length > 1) throw new InvalidSnapshot('$.sipDomains', 'at most one default SIP domain');
  }
  if (raw.persistentChatPools) {
    const pools: ObservedPersistentChatPool[] = raw.persistentChatPools.map((p, i) => {
      const at = `$.persistentChatPools[${i}]`;
      return {
        fqdn: parseFqdn(p.fqdn, `${at}.fqdn`),
        servers: fqdns(p.servers, `${at}.servers`),
        ...(p.site !== undefined ? { site: p.site } : {}),
        ...(p.activeServers !== undefined ? { activeServers: fqdns(p.activeServers, `${at}.activeServers`) } : {}),
        ...(p.poolState !== undefined ? { poolState: p.poolState } : {}),
        ...(p.status !== undefined ? { status: p.status } : {}),
      };
    });
    snapshot.persistentChatPools = unique(pools, (p) => p.fqdn, 'persistentChatPools');
  }
  if (raw.legacyPools) {
    const pools: ObservedLegacyPool[] = raw.legacyPools.map((p, i) => ({
      fqdn: parseFqdn(p.fqdn, `$.legacyPools[${i}].fqdn`),
      version: p.version,
      wellKnownSipAddress: parseSipUri(p.wellKnownSipAddress, `$.legacyPools[${i}].wellKnownSipAddress`),
      ...(p.status !== undefined ? { status: p.status } : {}),
    }));
    snapshot.legacyPools = unique(pools, (p) => p.fqdn, 'legacyPools');
  }
  if (raw.endpoints) {
    const endpoints: ObservedEndpoint[] = raw.endpoints.map((e, i) => ({
      sipAddress: parseSipUri(e.sipAddress, `$.endpoints[${i}].sipAddress`),
      poolFqdn: parseFqdn(e.poolFqdn, `$.endpoints[${i}].poolFqdn`),
      ...(e.displayName !== undefined ? { displayName: e.displayName } : {}),
      ...(e.distinguishedName !== undefined ? { distinguishedName: contactDnOf(e.distinguishedName, `$.endpoints[${i}].distinguishedName`) } : {}),
    }));
    snapshot.endpoints = unique(endpoints, (e) => e.sipAddress, 'endpoints');
  }
  if (raw.principals) {
    const principals: ObservedPrincipal[] = raw.principals.map((p, i) => ({
      sipAddress: parseSipUri(p.sipAddress, `$.principals[${i}].sipAddress`),
      kind: p.kind,
      displayName: p.displayName ?? null,
      ...(p.legacyPoolFqdn !== undefined ? { legacyPoolFqdn: parseFqdn(p.legacyPoolFqdn, `$.principals[${i}].legacyPoolFqdn`) } : {}),
    }));
    snapshot.principals = unique(principals, (p) => p.sipAddress, 'principals');
  }
  if (raw.principalLookups) {
    snapshot.principalLookups = raw.principalLookups.map((u, i): SipUri => parseSipUri(u, `$.principalLookups[${i}]`));
  }
  return snapshot;
}

// ---------------------------------------------------------------------------------------------
// The topology document (Get-CsTopology -AsXml, or a Topology Builder .tbxml file)

export const TOPOLOGY_NAMESPACE = 'urn:schema:Microsoft.Rtc.Management.Deploy.Topology.2008';
export const TOPOLOGY_BUILDER_NAMESPACE = 'urn:schema:Microsoft.Rtc.Management.Deploy.TopologyBuilder.2008';
/** The role name of a Persistent Chat pool's service, as its identity (`PersistentChatServer:<pool fqdn>`) uses it. */
export const PERSISTENT_CHAT_ROLE = 'PersistentChatServer';

const REPEATED = new Set(['InternalDomain', 'CentralSite', 'Cluster', 'Machine', 'Service', 'Dependency', 'NetInterface', 'Port', 'SqlInstance', 'BranchSite', 'RemoteSite']);

const PREDEFINED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** XML 1.0 `Char`: the code points a character reference may name. */
const isXmlChar = (c: number): boolean =>
  c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);

/**
 * Decodes the references XML itself defines in text and attribute values: character references
 * (`&#xE9;`, `&#233;`) and the five predefined entities. A document without a DTD can define no other
 * entity, so any other reference (`&eacute;`, an HTML name) or a reference to a code point XML forbids
 * makes the document not well-formed, and it is refused. (fast-xml-parser decodes character references
 * only with its HTML entity table, which would also read HTML names XML does not have.)
 */
const xmlReferences = {
  decode(text: string): string {
    if (!text.includes('&')) return text;
    return text.replace(/&([^;&\s]*);?/g, (reference, name: string) => {
      const numeric = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
      const code = numeric ? parseInt(numeric[1] ?? numeric[2] ?? '', numeric[1] !== undefined ? 16 : 10) : NaN;
      const decoded = numeric ? (isXmlChar(code) ? String.fromCodePoint(code) : undefined) : reference.endsWith(';') ? PREDEFINED_ENTITIES[name] : undefined;
      if (decoded === undefined) {
        throw new InvalidSnapshot('/', 'only the references XML defines (&#NNN; or &#xHHHH; naming a character XML allows, &amp; &lt; &gt; &quot; &apos;)', `it contains ${reference}`);
      }
      return decoded;
    });
  },
  // No DTD is ever read, so no entity is ever added.
  setExternalEntities: (): void => undefined,
  addInputEntities: (): void => undefined,
  reset: (): void => undefined,
  setXmlVersion: (): void => undefined,
};

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  // Namespace declarations are kept: the root's must be the topology's. Topology documents use default namespaces, not prefixes.
  removeNSPrefix: false,
  // Character references and the five predefined entities are decoded in text and attribute values, as in
  // any XML reader; no DTD is ever read (documents that declare one are refused before parsing).
  processEntities: true,
  entityDecoder: xmlReferences,
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name) => REPEATED.has(name),
});

type XmlNode = { [key: string]: unknown };

const isNode = (value: unknown): value is XmlNode => typeof value === 'object' && value !== null && !Array.isArray(value);
const child = (node: XmlNode | undefined, name: string): XmlNode | undefined => {
  const value = node?.[name];
  return isNode(value) ? value : undefined;
};
const children = (node: XmlNode | undefined, name: string): XmlNode[] => {
  const value = node?.[name];
  return Array.isArray(value) ? value.filter(isNode) : isNode(value) ? [value] : [];
};
const attribute = (node: XmlNode | undefined, name: string): string | undefined => {
  const value = node?.[`@${name}`];
  return typeof value === 'string' ? value : undefined;
};
const textOf = (node: XmlNode | undefined, name: string): string | undefined => {
  const value = node?.[name];
  if (typeof value === 'string') return value;
  if (isNode(value) && typeof value['#text'] === 'string') return value['#text'];
  return undefined;
};

/**
 * Reads the SIP domains, sites, pools (`Clusters` and their `Machine`s) and the Persistent Chat
 * pools (clusters a `PersistentChatServer` service is installed on) of a topology document. Other
 * services are ignored. A document with a DTD or an entity declaration is refused (XXE, billion laughs).
 */
export function parseTopologyXml(text: string): Snapshot {
  for (const declaration of ['<!DOCTYPE', '<!ENTITY', '<!doctype', '<!entity']) {
    if (text.includes(declaration)) throw new InvalidSnapshot('/', 'a topology document without a DTD or entity declarations', `it contains ${declaration.toUpperCase()}`);
  }
  let document: XmlNode;
  try {
    const valid = XMLValidator.validate(text);
    if (valid !== true) throw new InvalidSnapshot(`line ${valid.err.line}, column ${valid.err.col}`, 'well-formed XML', valid.err.msg);
    document = xmlParser.parse(text) as XmlNode;
  } catch (error) {
    if (error instanceof InvalidSnapshot) throw error;
    // The parser's own limits (elements nested too deep, ...): a document it will not read, not a fault of the server.
    throw new InvalidSnapshot('/', 'a topology document the XML parser can read', error instanceof Error ? error.message : String(error));
  }
  const builder = child(document, 'TopologyBuilder');
  const topology = builder ? child(child(builder, 'NewTopology'), 'PartialTopology') : child(document, 'Topology');
  if (builder && attribute(builder, 'xmlns') !== TOPOLOGY_BUILDER_NAMESPACE) throw new InvalidSnapshot('/TopologyBuilder', `the namespace ${TOPOLOGY_BUILDER_NAMESPACE}`);
  if (!builder && (!topology || attribute(topology, 'xmlns') !== TOPOLOGY_NAMESPACE)) {
    const root = Object.keys(document).find((k) => !k.startsWith('?')) ?? '(none)';
    throw new InvalidSnapshot(`/${root}`, `a Topology element in the namespace ${TOPOLOGY_NAMESPACE} (Get-CsTopology -AsXml) or a TopologyBuilder document`);
  }
  if (!topology) throw new InvalidSnapshot('/TopologyBuilder/NewTopology', 'a PartialTopology element');
  const root = builder ? '/TopologyBuilder/NewTopology/PartialTopology' : '/Topology';

  // SIP domains
  const internal = child(topology, 'InternalDomains');
  const defaultDomain = attribute(internal, 'DefaultDomain')?.toLowerCase();
  const sipDomains: ObservedSipDomain[] = children(internal, 'InternalDomain').map((d, i) => {
    const name = parseFqdn(attribute(d, 'Name') ?? '', `${root}/InternalDomains/InternalDomain[${i + 1}]/@Name`);
    return { name, isDefault: name === defaultDomain };
  });

  // Sites and clusters, in either shape
  const siteNames = new Map<string, string>();
  const clusters = new Map<string, { fqdn: Fqdn; machines: Fqdn[]; site: string | null }>();
  const readCluster = (cluster: XmlNode, machines: XmlNode[], key: string, site: string | null, path: string): void => {
    const fqdnText = attribute(cluster, 'Fqdn');
    if (fqdnText === undefined) return; // a cluster without a name (an unnamed file share or SQL host) holds no pool
    const fqdn = parseFqdn(fqdnText, `${path}/@Fqdn`);
    const named = machines.map((m) => attribute(m, 'Fqdn')).filter((m): m is string => m !== undefined && m !== '');
    clusters.set(key, { fqdn, machines: named.map((m, i) => parseFqdn(m, `${path}/Machine[${i + 1}]/@Fqdn`)), site });
  };
  if (builder) {
    children(child(topology, 'CentralSites'), 'CentralSite').forEach((site, s) => {
      const name = textOf(site, 'Name') ?? null;
      children(child(site, 'Clusters'), 'Cluster').forEach((cluster, c) => {
        const id = attribute(cluster, 'UniqueId');
        if (id) readCluster(cluster, children(child(cluster, 'Machines'), 'Machine'), id.toLowerCase(), name, `${root}/CentralSites/CentralSite[${s + 1}]/Clusters/Cluster[${c + 1}]`);
      });
    });
  } else {
    for (const site of children(child(topology, 'Sites'), 'CentralSite')) {
      const id = attribute(site, 'SiteId');
      if (id !== undefined) siteNames.set(id, textOf(site, 'Name') ?? id);
    }
    children(child(topology, 'Clusters'), 'Cluster').forEach((cluster, c) => {
      const clusterId = child(cluster, 'ClusterId');
      const siteId = attribute(clusterId, 'SiteId');
      const number = attribute(clusterId, 'Number');
      if (siteId === undefined || number === undefined) return;
      readCluster(cluster, children(cluster, 'Machine'), `${siteId}/${number}`, siteNames.get(siteId) ?? null, `${root}/Clusters/Cluster[${c + 1}]`);
    });
  }

  // Persistent Chat pools: the clusters their service is installed on
  const pools = new Map<string, ObservedPersistentChatPool>();
  for (const service of children(child(topology, 'Services'), 'Service')) {
    const serviceId = child(service, 'ServiceId');
    const role = attribute(service, 'RoleName') ?? attribute(serviceId, 'RoleName');
    if (role !== PERSISTENT_CHAT_ROLE) continue;
    let key: string | undefined;
    if (builder) key = attribute(service, 'InstalledOn')?.toLowerCase();
    else {
      const on = child(child(service, 'InstalledOn'), 'ClusterId');
      const siteId = attribute(on, 'SiteId');
      const number = attribute(on, 'Number');
      if (siteId !== undefined && number !== undefined) key = `${siteId}/${number}`;
    }
    const cluster = key !== undefined ? clusters.get(key) : undefined;
    if (!cluster) throw new InvalidSnapshot(`${root}/Services/Service[@RoleName='${PERSISTENT_CHAT_ROLE}']/InstalledOn`, 'the id of a cluster of the document');
    pools.set(cluster.fqdn, { fqdn: cluster.fqdn, servers: cluster.machines.length > 0 ? cluster.machines : [cluster.fqdn], site: cluster.site });
  }
  return { collectedAt: null, source: 'topologyXml', sipDomains, persistentChatPools: [...pools.values()] };
}
