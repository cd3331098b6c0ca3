// SOURCE: owncloud/web, packages/web-runtime/src/container/sse/types.ts at
// commit b16a34fdf5569d2fd63b1ff3c575c1a4ee569ad3 (tag v12.5.0, the release
// of @ownclouders/web-client 12.5.0), AGPL-3.0. Only `eventSchema` is taken,
// its body unchanged; web-runtime's sseEventWrapper (sse/helpers.ts) runs
// `eventSchema.parse(JSON.parse(msg.data))` on every event before handling
// it, and drops the event when that throws.
//
// There it is built with `import { z } from 'zod'` (zod 4.3.6); here the
// caller passes zod in, because a bare import resolves from this directory,
// which has no node_modules (tests/clients has zod 4, a dependency of both
// client libraries).
export const makeEventSchema = (z) => z.object({
  itemid: z.string().optional(),
  parentitemid: z.string().optional(),
  spaceid: z.string().optional(),
  initiatorid: z.string().optional(),
  etag: z.string().optional(),
  affecteduserids: z.array(z.string()).optional().nullable(),
});
