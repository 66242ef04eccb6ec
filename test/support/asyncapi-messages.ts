/**
 * Checks WebSocket messages against an AsyncAPI document (src/control/api/asyncapi-document.ts)
 * with ajv: what the server sends against the channel's subscribe messages,
 * what a client may send against its publish messages.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { WS_CHANNEL, type AsyncApiDocument } from '../../src/control/api/asyncapi-document.js';

const DOC_ID = 'nova-asyncapi';

export interface AsyncApiMessageCheck {
  /** [] when `message` is one of the server's messages; else what is wrong with it */
  server(message: unknown): string[];
  /** the same for a message a client sends */
  client(message: unknown): string[];
  /** message names (components/messages) the server may send, from the channel's subscribe operation */
  serverMessageNames: string[];
}

function oneOfRefs(operation: unknown): string[] {
  const message = (operation as { message?: { oneOf?: Array<{ $ref: string }> } } | undefined)?.message;
  if (!message?.oneOf) throw new Error(`${WS_CHANNEL}: an operation without message.oneOf`);
  return message.oneOf.map(({ $ref }) => $ref);
}

export function asyncApiMessageCheck(doc: AsyncApiDocument): AsyncApiMessageCheck {
  // Only the components go in as a schema: AsyncAPI's own `id` field would read to ajv as the old draft-04 keyword.
  // strict off: around the schemas are AsyncAPI's keywords (messages, payload…), not JSON Schema's.
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema({ components: structuredClone(doc.components) }, DOC_ID);
  const channel = doc.channels[WS_CHANNEL];
  if (!channel) throw new Error(`no channel ${WS_CHANNEL}`);
  const compile = (refs: string[]): { all: ValidateFunction; byType: Map<string, ValidateFunction> } => {
    const byType = new Map<string, ValidateFunction>();
    for (const ref of refs) {
      const name = ref.slice(ref.lastIndexOf('/') + 1);
      const type = (doc.components.schemas[name]?.properties as { type?: { const?: string } } | undefined)?.type?.const;
      if (type === undefined) throw new Error(`message ${name}: its payload has no type const`);
      byType.set(type, ajv.compile({ $ref: `${DOC_ID}${ref}/payload` }));
    }
    return { all: ajv.compile({ oneOf: refs.map((ref) => ({ $ref: `${DOC_ID}${ref}/payload` })) }), byType };
  };
  const check = (validators: ReturnType<typeof compile>) => (message: unknown): string[] => {
    if (validators.all(message)) return [];
    const type = (message as { type?: unknown } | null)?.type;
    const one = typeof type === 'string' ? validators.byType.get(type) : undefined;
    if (!one) return [`no message of type ${JSON.stringify(type)} in the document`];
    one(message);
    return (one.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  };
  const serverRefs = oneOfRefs(channel.subscribe);
  return {
    server: check(compile(serverRefs)),
    client: check(compile(oneOfRefs(channel.publish))),
    serverMessageNames: serverRefs.map((ref) => ref.slice(ref.lastIndexOf('/') + 1)),
  };
}
