/**
 * A JSON Schema (2020-12) validator for the subset docs/schemas uses:
 * type, const, enum, required, properties, additionalProperties (boolean),
 * items, minimum, minLength, pattern, oneOf, $ref to "#/$defs/…".
 * An unknown keyword makes it throw, so the schema cannot silently outgrow it.
 */

type Schema = Record<string, unknown>;

const KNOWN = new Set([
  '$schema', '$id', '$defs', 'title', 'description', 'type', 'const', 'enum', 'required', 'properties',
  'additionalProperties', 'items', 'minimum', 'minLength', 'pattern', 'oneOf', '$ref',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

export class SchemaValidator {
  constructor(private readonly root: Schema) {}

  /** Returns the list of violations ([] = valid). */
  validate(value: unknown): string[] {
    const errors: string[] = [];
    this.check(this.root, value, '$', errors);
    return errors;
  }

  private resolve(ref: string): Schema {
    const match = /^#\/\$defs\/(.+)$/.exec(ref);
    const defs = this.root.$defs as Record<string, Schema> | undefined;
    const target = match && defs ? defs[match[1]!] : undefined;
    if (!target) throw new Error(`unresolvable $ref ${ref}`);
    return target;
  }

  private check(schema: Schema, value: unknown, path: string, errors: string[]): void {
    for (const key of Object.keys(schema)) if (!KNOWN.has(key)) throw new Error(`schema keyword ${key} not supported by the test validator`);
    if (typeof schema.$ref === 'string') this.check(this.resolve(schema.$ref), value, path, errors);
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
      const actual = typeOf(value);
      if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) {
        errors.push(`${path}: expected ${types.join('|')}, got ${actual}`);
        return;
      }
    }
    if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) errors.push(`${path}: expected const ${JSON.stringify(schema.const)}`);
    if (Array.isArray(schema.enum) && !schema.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))) {
      errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
    }
    if (typeof value === 'number' && typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${path}: below minimum ${schema.minimum}`);
    if (typeof value === 'string') {
      if (typeof schema.minLength === 'number' && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
      if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
    }
    if (Array.isArray(value) && schema.items) value.forEach((item, i) => this.check(schema.items as Schema, item, `${path}[${i}]`, errors));
    if (typeOf(value) === 'object') {
      const object = value as Record<string, unknown>;
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      if (Array.isArray(schema.required)) for (const key of schema.required as string[]) if (!(key in object)) errors.push(`${path}: missing ${key}`);
      for (const key of Object.keys(object)) {
        if (properties[key]) this.check(properties[key], object[key], `${path}.${key}`, errors);
        else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${key}`);
      }
    }
    if (Array.isArray(schema.oneOf)) {
      let matches = 0;
      const branchErrors: string[] = [];
      for (const branch of schema.oneOf as Schema[]) {
        const errs: string[] = [];
        this.check(branch, value, path, errs);
        if (errs.length === 0) matches++;
        else branchErrors.push(errs[0]!);
      }
      if (matches !== 1) errors.push(`${path}: matched ${matches} of oneOf (${branchErrors.join('; ')})`);
    }
  }
}
