import { SNAPSHOT_FORMAT, SNAPSHOT_SCHEMA_VERSION } from '../../domain';

const fqdn = { type: 'string', minLength: 1, maxLength: 255, description: 'A fully qualified domain name, e.g. pcpool.contoso.com' } as const;
const sipAddress = { type: 'string', minLength: 5, maxLength: 454, description: 'A SIP address with its sip: prefix, e.g. sip:ocschat@contoso.com' } as const;
const displayName = { type: ['string', 'null'], maxLength: 256 } as const;
const fqdnList = { type: 'array', items: fqdn, maxItems: 8 } as const;

/**
 * The snapshot's JSON Schema (draft-07), published at `GET /api/observations/schema`. A section left
 * out was not observed; a section given lists everything of its kind. Addresses and names are
 * checked again, and lower-cased, by the domain's parsers (R1, R2).
 */
export const SNAPSHOT_JSON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: `urn:topology-ledger:snapshot:${SNAPSHOT_SCHEMA_VERSION}`,
  title: 'Topology snapshot',
  description:
    'What a Lync Server 2013 / Skype for Business Persistent Chat deployment was observed to be, as collect/Get-TopologySnapshot.ps1 writes it.',
  type: 'object',
  additionalProperties: false,
  required: ['format', 'schemaVersion', 'collectedAt'],
  properties: {
    format: { const: SNAPSHOT_FORMAT },
    schemaVersion: { const: SNAPSHOT_SCHEMA_VERSION },
    collectedAt: {
      type: 'string',
      pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,7})?(Z|[+-]\\d{2}:\\d{2})$',
      description: 'When the collector ran, ISO-8601 with a time zone',
    },
    collector: {
      type: 'object',
      additionalProperties: false,
      properties: { name: { type: 'string', maxLength: 100 }, version: { type: 'string', maxLength: 40 }, computer: { type: 'string', maxLength: 255 } },
    },
    sipDomains: {
      type: 'array',
      maxItems: 1000,
      items: { type: 'object', additionalProperties: false, required: ['name', 'isDefault'], properties: { name: fqdn, isDefault: { type: 'boolean' } } },
    },
    persistentChatPools: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['fqdn', 'servers'],
        properties: {
          fqdn,
          servers: fqdnList,
          site: { type: ['string', 'null'], maxLength: 256 },
          activeServers: fqdnList,
          poolState: { enum: ['Normal', 'FailedOver'] },
          status: { enum: ['Installed', 'Started', 'Stopped'] },
        },
      },
    },
    legacyPools: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['fqdn', 'version', 'wellKnownSipAddress'],
        properties: { fqdn, version: { enum: ['Lync2010', 'OCS2007R2'] }, wellKnownSipAddress: sipAddress, status: { enum: ['Started', 'Stopped', 'Decommissioned'] } },
      },
    },
    endpoints: {
      type: 'array',
      maxItems: 500000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['sipAddress', 'poolFqdn'],
        properties: {
          sipAddress,
          poolFqdn: fqdn,
          displayName,
          distinguishedName: {
            type: 'string',
            maxLength: 1024,
            description:
              "The endpoint's Identity as Get-CsPersistentChatEndpoint gives it: its contact's distinguished name, CN={guid},CN=Application Contacts,CN=RTC Service,CN=Services,CN=Configuration,DC=...",
          },
        },
      },
    },
    principals: {
      type: 'array',
      maxItems: 500000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['sipAddress', 'kind'],
        properties: {
          sipAddress,
          kind: { enum: ['user', 'contact', 'wellKnownUser'] },
          displayName,
          legacyPoolFqdn: { ...fqdn, description: 'For a well-known user: the legacy Group Chat pool it routes clients to' },
        },
      },
    },
    principalLookups: { type: 'array', maxItems: 10000, items: sipAddress, description: 'The SIP addresses the collector looked up; principals covers only these' },
  },
} as const;
