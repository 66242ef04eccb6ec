import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { NovaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { captureRequest, sendError, sendJson, type RequestContext } from '../../http/uws-helpers.js';
import { checkBearer } from '../auth/admin-token.js';
import type { DeadLetter, EventLog } from '../events/event-log.js';

export interface EventRoutesDeps {
  log: EventLog;
  adminToken: string;
  logger: Logger;
}

const GROUP = /^[A-Za-z0-9:._-]{1,200}$/;
const DEAD_LETTER_ID = /^[0-9]{1,20}(-[0-9]{1,20})?$/;
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const WWW_AUTHENTICATE = { 'www-authenticate': 'Bearer realm="nova-streaming"' };

/**
 * The event log's admin API (admin bearer token):
 *   GET  /api/v1/events/groups                                   consumer groups
 *   GET  /api/v1/events/groups/:group/dead-letters?limit=&after=  a group's dead letters, oldest first
 *   POST /api/v1/events/groups/:group/dead-letters/:id/replay     hands one back to the group (once)
 * A group name is URL-encoded in the path (instance groups are "instance:<id>").
 */
export function registerEventRoutes(app: TemplatedApp, deps: EventRoutesDeps): void {
  const guarded = (res: HttpResponse, ctx: RequestContext, handler: () => Promise<void>): void => {
    if (!checkBearer(ctx.headers.get('authorization'), deps.adminToken)) {
      sendJson(res, ctx, 401, { error: { code: 'NOVA_ERR_UNAUTHORIZED', message: 'missing or invalid bearer token' } }, WWW_AUTHENTICATE);
      return;
    }
    handler().catch((err: unknown) => {
      if (!(err instanceof NovaError)) deps.logger.error({ err, method: ctx.method, url: ctx.url }, 'events API request failed');
      sendError(res, ctx, err);
    });
  };

  app.get('/api/v1/events/groups', (res: HttpResponse, req: HttpRequest) => {
    const ctx = captureRequest(res, req);
    guarded(res, ctx, async () => {
      sendJson(res, ctx, 200, { items: (await deps.log.groups()).map((group) => ({ group })) });
    });
  });

  app.get('/api/v1/events/groups/:group/dead-letters', (res: HttpResponse, req: HttpRequest) => {
    const ctx = captureRequest(res, req);
    const rawGroup = req.getParameter(0) ?? '';
    guarded(res, ctx, async () => {
      const group = parseGroup(rawGroup);
      const params = new URLSearchParams(ctx.query);
      const limit = parseLimit(params.get('limit'));
      const after = params.get('after');
      if (after !== null && !DEAD_LETTER_ID.test(after)) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'after must be an id from this list');
      const letters = await deps.log.deadLetters(group, limit, after ?? undefined);
      sendJson(res, ctx, 200, { items: letters.map(view), next_after: letters.length === limit ? letters[letters.length - 1]!.id : null });
    });
  });

  app.post('/api/v1/events/groups/:group/dead-letters/:id/replay', (res: HttpResponse, req: HttpRequest) => {
    const ctx = captureRequest(res, req);
    const rawGroup = req.getParameter(0) ?? '';
    const id = req.getParameter(1) ?? '';
    // a body, if any, is not read: nothing to take from it
    res.onData(() => {});
    guarded(res, ctx, async () => {
      const group = parseGroup(rawGroup);
      if (!DEAD_LETTER_ID.test(id)) throw new NovaError('NOVA_ERR_NOT_FOUND', 'no such dead letter');
      if (!(await deps.log.replay(group, id))) throw new NovaError('NOVA_ERR_NOT_FOUND', `no dead letter ${id} in ${group}`);
      deps.logger.info({ group, deadLetter: id }, 'dead letter handed back to its group');
      sendJson(res, ctx, 200, { replayed: id, group });
    });
  });
}

function parseGroup(raw: string): string {
  let group: string;
  try {
    group = decodeURIComponent(raw);
  } catch {
    throw new NovaError('NOVA_ERR_BAD_REQUEST', 'group is not URL-encoded text');
  }
  if (!GROUP.test(group)) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'group must be 1-200 letters, digits or :._-');
  return group;
}

function parseLimit(text: string | null): number {
  if (text === null) return DEFAULT_LIMIT;
  const limit = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new NovaError('NOVA_ERR_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

function view(letter: DeadLetter): Record<string, unknown> {
  return {
    id: letter.id,
    group: letter.group,
    event_id: letter.event?.id ?? null,
    type: letter.event?.type ?? null,
    stream_id: letter.event?.streamId ?? null,
    seq: letter.event?.seq ?? null,
    error: letter.error,
    attempts: letter.attempts,
    dead_at: new Date(letter.at).toISOString(),
    // an entry that was not an event is shown as it was (truncated), the event as it is
    event: letter.event?.event ?? null,
    raw: letter.event === null ? letter.raw.slice(0, 1000) : undefined,
  };
}
