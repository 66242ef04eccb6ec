import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { NovaError } from '../../errors.js';
import { listOperations, type JsonSchema, type OpenApiDocument, type OpenApiOperation } from './openapi-document.js';

/**
 * ajv validators compiled once from the OpenAPI document: parameters and
 * bodies for the router, responses for the tests. `$ref`s into
 * components/schemas resolve against one registered copy of them.
 */

// ajv-formats is CommonJS with a default export; under NodeNext its type is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const COMPONENTS_ID = 'nova-components';

export interface OperationValidators {
  /** path and query parameters together; coerces query strings to the declared types, applies defaults */
  params: ValidateFunction;
  /** null when the operation takes no body */
  body: ValidateFunction | null;
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = key === '$ref' && typeof inner === 'string' ? inner.replace('#/components/schemas/', `${COMPONENTS_ID}#/definitions/`) : rewriteRefs(inner);
  }
  return out;
}

function newAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ allErrors: false, strict: true, coerceTypes: coerce, useDefaults: true });
  addFormats(ajv);
  ajv.addKeyword('example');
  return ajv;
}

export class OpenApiValidator {
  readonly #bodies: Ajv;
  readonly #params: Ajv;
  readonly #doc: OpenApiDocument;
  readonly #operations = new Map<string, OperationValidators>();
  readonly #responses = new Map<string, ValidateFunction>();

  constructor(doc: OpenApiDocument) {
    this.#doc = doc;
    this.#bodies = newAjv(false);
    this.#params = newAjv(true);
    const components = rewriteRefs({ $id: COMPONENTS_ID, definitions: doc.components.schemas }) as JsonSchema;
    this.#bodies.addSchema(components);
    this.#params.addSchema(components);
    for (const { operation } of listOperations(doc)) {
      this.#operations.set(operation.operationId, {
        params: this.#params.compile(this.#paramsSchema(operation)),
        body: this.#bodySchema(operation),
      });
    }
  }

  operation(operationId: string): OperationValidators {
    const validators = this.#operations.get(operationId);
    if (!validators) throw new Error(`no operation ${operationId} in the document`);
    return validators;
  }

  /** The response schema of an operation's status (JSON only); null when it declares no JSON body for it. */
  response(operationId: string, status: number): ValidateFunction | null {
    const key = `${operationId} ${status}`;
    const cached = this.#responses.get(key);
    if (cached) return cached;
    const entry = listOperations(this.#doc).find((e) => e.operation.operationId === operationId);
    if (!entry) throw new Error(`no operation ${operationId} in the document`);
    let response = entry.operation.responses[String(status)] as Record<string, unknown> | undefined;
    if (response === undefined) throw new Error(`${operationId} declares no ${status} response`);
    const responseRef = response.$ref as string | undefined;
    if (responseRef) response = this.#doc.components.responses[responseRef.split('/').pop()!] as Record<string, unknown>;
    const schema = (response.content as Record<string, { schema: JsonSchema }> | undefined)?.['application/json']?.schema;
    if (!schema) return null;
    const validate = this.#bodies.compile(rewriteRefs(schema) as JsonSchema);
    this.#responses.set(key, validate);
    return validate;
  }

  #paramsSchema(operation: OpenApiOperation): JsonSchema {
    const properties: Record<string, unknown> = {};
    const required: string[] = [];
    for (const raw of operation.parameters ?? []) {
      const param = this.#resolveParameter(raw);
      if (param.in !== 'path' && param.in !== 'query') continue;
      properties[param.name as string] = param.schema;
      if (param.required === true) required.push(param.name as string);
    }
    return rewriteRefs({ type: 'object', properties, required }) as JsonSchema;
  }

  #resolveParameter(raw: Record<string, unknown>): Record<string, unknown> {
    const target = raw.$ref as string | undefined;
    return target ? (this.#doc.components.parameters[target.split('/').pop()!] as Record<string, unknown>) : raw;
  }

  #bodySchema(operation: OpenApiOperation): ValidateFunction | null {
    const content = operation.requestBody?.content;
    if (!content) return null;
    const schema = content['application/json']?.schema ?? Object.values(content)[0]?.schema;
    return schema ? this.#bodies.compile(rewriteRefs(schema) as JsonSchema) : null;
  }
}

/** A validation failure as one short sentence ("title: must NOT have more than 200 characters"). */
export function describeValidationError(errors: ErrorObject[] | null | undefined, what: string): string {
  const first = errors?.[0];
  if (!first) return `${what} is invalid`;
  const where = first.instancePath === '' ? what : first.instancePath.slice(1).replaceAll('/', '.');
  if (first.keyword === 'additionalProperties') {
    const field = String((first.params as { additionalProperty: string }).additionalProperty).slice(0, 64);
    return `unknown field ${JSON.stringify(field)}`;
  }
  if (first.keyword === 'pattern' && /title|name/.test(where)) return `${where} must not contain control characters`;
  return `${where} ${first.message ?? 'is invalid'}`;
}

export function badRequest(errors: ErrorObject[] | null | undefined, what: string): NovaError {
  return new NovaError('NOVA_ERR_BAD_REQUEST', describeValidationError(errors, what));
}
