import { auditDigestProjection } from './audit-digest/audit-digest.projection';
import { driftProjection } from './drift/drift.projection';
import { auditTrailProjection } from './audit-trail/audit-trail.projection';
import { endpointDirectoryProjection } from './endpoint-directory/endpoint-directory.projection';
import { migrationsProjection } from './migrations/migrations.projection';
import type { Projection } from './runner/projection';
import { topologyProjection } from './topology/topology.projection';

/** Every read model the product keeps, in the order `/api/projections` lists them. */
export const ALL_PROJECTIONS: readonly Projection[] = [
  topologyProjection,
  endpointDirectoryProjection,
  auditTrailProjection,
  auditDigestProjection,
  migrationsProjection,
  driftProjection,
];
