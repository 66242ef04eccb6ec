import { NovaError } from '../../errors.js';
import type { DeadLetter, EventLog } from '../events/event-log.js';
import type { ApiRouter } from './api-router.js';

export interface EventRoutesDeps {
  log: EventLog;
}

const DEAD_LETTER_ID = /^[0-9]{1,20}(-[0-9]{1,20})?$/;

/**
 * The event log's admin operations (`admin` scope; schemas in
 * openapi-document.ts): consumer groups, a group's dead letters, and replay.
 * The group arrives URL-decoded and checked against its pattern by the router
 * (instance groups are "instance:<id>", "instance%3A<id>" in the path).
 */
export function registerEventRoutes(router: ApiRouter, deps: EventRoutesDeps): void {
  router.handle('listEventGroups', async () => ({ status: 200, body: { items: (await deps.log.groups()).map((group) => ({ group })) } }));

  router.handle('listDeadLetters', async (request) => {
    const { group, limit, after } = request.params as { group: string; limit: number; after?: string };
    const letters = await deps.log.deadLetters(group, limit, after);
    return { status: 200, body: { items: letters.map(view), next_after: letters.length === limit ? letters[letters.length - 1]!.id : null } };
  });

  router.handle('replayDeadLetter', async (request) => {
    const { group, id } = request.params as { group: string; id: string };
    // an id no list could have shown is simply not there (404, as before the router validated paths)
    if (!DEAD_LETTER_ID.test(id) || !(await deps.log.replay(group, id))) throw new NovaError('NOVA_ERR_NOT_FOUND', `no dead letter ${JSON.stringify(id.slice(0, 64))} in ${group}`);
    request.log.info({ group, deadLetter: id }, 'dead letter handed back to its group');
    return { status: 200, body: { replayed: id, group } };
  });
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
    ...(letter.event === null ? { raw: letter.raw.slice(0, 1000) } : {}),
  };
}
