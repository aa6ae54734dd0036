import { z } from 'zod';
import { columnOfField } from '../db/sql/identifiers.ts';

/**
 * A resource's whole public contract in one declaration, in the shape of Commerce
 * Layer's schema (resources.subset.json): each field with its flags, each relationship,
 * each trigger, the actions. The generic engine derives validation, serialization, routes
 * (routes.ts), query rules and writes (writes.ts) from it: a write's fields are mapped to
 * columns by the declaration, so a writable attribute is one line here plus its column,
 * and the domain only adds rules (create/update/remove) where a resource has them.
 */

/** `array`: a list of strings (a webhook's include_resources); neither filterable nor sortable. */
export type AttributeType = 'string' | 'integer' | 'float' | 'boolean' | 'object' | 'array' | 'datetime';
export type Action = 'list' | 'retrieve' | 'create' | 'update' | 'delete';

/** Database fields and their values, as a write stores them. */
export type Columns = Record<string, unknown>;

/** What a write hands to a field's hook and to the domain's create and update. */
export interface WriteContext<Services = unknown> {
  services: Services;
  action: 'create' | 'update';
  /** The record as it was before an update; absent on create. */
  row?: { id: string } & Record<string, unknown>;
  /** Digest of the request's Idempotency-Key, when it has one: a retry of the request finds what it did. */
  requestKey: string | undefined;
  /** Shows `value` as the row's `field` in this response only (a secret made at creation); never stored. */
  show(field: string, value: unknown): void;
  /** Runs `effect` once the write has committed (a call to another system), with the written row. */
  afterCommit(effect: (row: { id: string } & Record<string, unknown>) => Promise<void>): void;
}

export interface AttributeDeclaration<Row> {
  type: AttributeType;
  /** Returned in responses. Default true; false for write-only secrets like a gateway's login. */
  fetchable?: boolean;
  creatable?: boolean;
  updatable?: boolean;
  filterable?: boolean;
  sortable?: boolean;
  /** Must be present on create. */
  required?: boolean;
  /** Validates a client-supplied value (create and update); its output is what is stored. Defaults follow `type`. */
  input?: z.ZodType;
  /** Database field; defaults to the camelCase of the attribute name. null: none (computed, or written by `write`). */
  column?: string | null;
  /** The stored type when it differs from the JSON one (an order number is an integer column shown as a string). */
  columnType?: AttributeType;
  /** Computed value (amount floats, formatted amounts); otherwise the column is read. */
  read?: (row: Row) => unknown;
  /** Commerce Layer's "cannot be passed by sales channels" (e.g. prices). */
  prohibited?: boolean;
  /** The column's value on create when the document gives none (a generated client id). */
  initial?: () => unknown;
  /**
   * The columns a value writes instead of its own: sealed, hashed or derived (see
   * `written`). Null when the client cleared the value.
   */
  write?(value: never, context: WriteContext<never>): Columns | Promise<Columns>;
}

/** What a trigger's step is told besides the record's id. */
export interface TriggerContext<Parameters = Record<string, unknown>> {
  /** Digest of the request's Idempotency-Key, when it has one: a retry of the request finds what it did. */
  requestKey: string | undefined;
  /** The trigger's parameters the request gave (`_refund_amount_cents`). */
  parameters: Parameters;
  /** Shows `value` as the row's `field` in this response only (a regenerated secret); never stored. */
  show(field: string, value: unknown): void;
}

/**
 * A write-only flag that makes a write act (Commerce Layer's `_place`, `_capture`,
 * `_refresh`, `_disable`): sent as `true`, run after the write's other fields, in the
 * order the declaration lists them.
 */
export interface TriggerDeclaration<Services> {
  /** Integration tokens only: Commerce Layer's "cannot be passed by sales channels". */
  prohibited?: boolean;
  /** Taken on create as well (`_disable`); otherwise on update only. */
  creatable?: boolean;
  /** Attributes that go with it (`_refund_amount_cents`), taken only together with it. */
  parameters?: Record<string, AttributeDeclaration<unknown>>;
  /** It calls Stripe: a request that sends it can be answered 502, 503, 504 or 409. */
  callsStripe?: boolean;
  /** Columns it sets as part of the write itself (`_disable` sets disabled_at). */
  columns?: (context: WriteContext<Services>) => Columns;
  /** The domain step it runs once the write's other fields are stored, committed on its own. */
  run?: (services: Services, id: string, context: TriggerContext) => Promise<void>;
}

/** A trigger that runs a domain step: `_capture: trigger(captureOrder, { prohibited: true, callsStripe: true })`. */
export function trigger<Services, const P extends Record<string, AttributeDeclaration<unknown>> = Record<never, never>>(
  run: (services: Services, id: string, context: TriggerContext<{ [K in keyof P]?: ValueOf<P[K]> | null }>) => Promise<void>,
  options: Omit<TriggerDeclaration<Services>, 'run' | 'columns' | 'parameters'> & { parameters?: P } = {},
): TriggerDeclaration<Services> {
  return { ...options, run: run as TriggerDeclaration<Services>['run'] };
}

/** A trigger that sets columns in the write itself: `_disable: columnsTrigger(() => ({ disabledAt: new Date() }))`. */
export function columnsTrigger<Services>(columns: (context: WriteContext<Services>) => Columns, options: Pick<TriggerDeclaration<Services>, 'prohibited' | 'creatable'> = {}): TriggerDeclaration<Services> {
  return { ...options, columns };
}

/**
 * An attribute whose value a hook writes (`login` sealed, `password` hashed): the hook
 * gets the value as `input` makes it (null when the client cleared it, which a required
 * attribute cannot be), and the columns it returns are stored instead.
 */
export function withWriteHook<const D extends Omit<AttributeDeclaration<unknown>, 'input' | 'write' | 'read'>, I extends z.ZodType, Services = unknown>(
  declaration: D,
  input: I,
  write: (value: D extends { required: true } ? z.output<I> : z.output<I> | null, context: WriteContext<Services>) => Columns | Promise<Columns>,
): D & { input: I; write: typeof write } {
  return { ...declaration, input, write };
}

export interface RelationshipDeclaration<Row> {
  kind: 'to_one' | 'to_many';
  /** Types the linkage may name; more than one means polymorphic. */
  types: readonly string[];
  /**
   * Types a write may also link: the same records under another resource type (a
   * `stripe_gateways` record for a `payment_gateways` relationship). Responses use `types`.
   */
  alsoAccepts?: readonly string[];
  creatable?: boolean;
  updatable?: boolean;
  required?: boolean;
  /** For to_one: the database field holding the related id (creatable/updatable ones are written there). */
  foreignKey?: string;
  /** For to_one: resolves the linkage from the row (polymorphic ones need the type column). */
  linkage?: (row: Row) => { type: string; id: string } | null;
  /** For to_many: the related model's field holding this resource's id (line_items.orderId). */
  inverseKey?: string;
  /** Set only by integrations; for sales channel tokens the engine fills it in (an order's market). */
  prohibited?: boolean;
  /**
   * For to_many without an inverse key (Commerce Layer's virtual relationships, an order's
   * `available_payment_methods`): the related rows are those whose fields match the owner's.
   */
  matching?: RelatedMatch;
  /**
   * A relationship of Commerce Layer's schema to records this server does not keep (a line
   * item's `item`, its `line_item_options`): always null or empty, so that clients asking
   * for it get what they would for a record without them. `below` lists the relationships
   * the schema gives those records, which an include may name after this one (equally empty).
   */
  absent?: { below?: readonly string[] };
}

/** Which rows of the related type belong to an owner row: Prisma field names, related field -> owner field. */
export interface RelatedMatch {
  /** Equal values. */
  same?: Record<string, string>;
  /** Equal values, or the related field unset (a payment method without a market is offered in every market). */
  sameOrUnset?: Record<string, string>;
  /** Related fields that must be unset (`disabledAt`: enabled rows only). */
  unset?: readonly string[];
}

export type StorefrontAction = Exclude<Action, 'list'>;

/**
 * What sales channel tokens (guests, or customers signed in with the password grant) may
 * do with a resource, and which rows they reach; integration tokens reach everything.
 * Never lists: Commerce Layer gives sales channels single records only.
 */
export interface StorefrontAccess {
  actions: readonly StorefrontAction[];
  rows: StorefrontRows;
}

export type StorefrontRows =
  /** The rows whose to-one relationship (e.g. `order`) the token reaches, for reading; writing needs that row writable. */
  | { through: string }
  | {
      /** The field holding the market id: rows of the token's market only. */
      market?: string;
      /** Rows without a market are in every market (payment methods). */
      anyMarketWhenUnset?: boolean;
      /** The field holding the customer id: a customer's rows, or for guests rows without a customer. */
      customer?: string;
      /** The row is the customer: only the signed-in customer's own. */
      isCustomer?: true;
      /** Rows readable and writable in these states only (Commerce Layer: draft, pending, placed / draft, pending). */
      status?: { field: string; readable: readonly string[]; writable: readonly string[] };
      /** A field that is set when the row is disabled: disabled rows are not shown. */
      hiddenWhenSet?: string;
    };

export interface ResourceIdentifier {
  type: string;
  id: string;
}

/** A validated create or update document. */
export interface WriteInput {
  id?: string;
  attributes: Record<string, unknown>;
  relationships: Record<string, ResourceIdentifier | null>;
}

export interface ResourceDeclaration<Row extends { id: string }, Services> {
  type: string;
  /** Name of the Prisma model delegate, e.g. "stripePayment". */
  model: string;
  /** Its SQL table: lists, filters and sorts run as parameterised SQL over it. */
  table: string;
  actions: readonly Action[];
  /** Every field, triggers and their parameters included (defineResource adds them, write-only). */
  attributes: Record<string, AttributeDeclaration<Row>>;
  relationships: Record<string, RelationshipDeclaration<Row>>;
  /** The triggers, in the order they run. */
  triggers: Record<string, TriggerDeclaration<Services>>;
  /** Absent: integration tokens only. */
  storefront?: StorefrontAccess;
  /** Rows the API never shows (e.g. a payment whose PaymentIntent is still being created): field = value. */
  visibleWhere?: Record<string, string | number | boolean>;
  /** Related data that computed attributes read (a Prisma `include`), loaded with every row. */
  load?: Record<string, unknown>;
  meta?: (row: Row) => Record<string, unknown>;
  /**
   * A polymorphic collection (`transactions`): the type each row is shown as, a declaration
   * over the same table (`authorizations`, `captures`, ...) whose fields and links it gets.
   */
  shownAs?: (row: Row) => string;
  /** Writes whose domain step calls Stripe: their routes can also answer 502, 503, 504 and 409. */
  callsStripe?: readonly ('create' | 'update' | 'delete')[];
  /**
   * The domain's rules for a write, given the columns the declaration maps the write's
   * fields to; when absent the engine stores the columns itself. A create resolves to the
   * new record's `{ id }`, and may give `shownRow` (`CreatedRecord`).
   */
  create?: (services: Services, columns: Columns, context: WriteContext<Services>) => Promise<unknown>;
  update?: (services: Services, row: Row, columns: Columns, context: WriteContext<Services>) => Promise<unknown>;
  remove?: (services: Services, row: Row) => Promise<void>;
  /**
   * Records that keep a row from being deleted (Rails' restrict_with_error, as Commerce
   * Layer answers): while any exist, a DELETE is a 422 naming them. The foreign keys refuse
   * the delete too (423), should one be linked meanwhile.
   */
  deleteRestrictedBy?: readonly { model: string; field: string; name: string }[];
  /** After a delete committed: what other systems must forget (a gateway's webhook endpoint). */
  afterDelete?: (services: Services, row: Row) => Promise<void> | void;
}

// The columns a write maps its fields to, as types: what the domain's create and update
// receive, computed from the declaration so that a domain step asking for a column the
// declaration does not write (or of another type) does not compile.

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;
type TypeValues = { string: string; integer: number; float: number; boolean: boolean; object: Record<string, unknown>; array: string[]; datetime: string };

/** The value of a declared field: what its input schema gives, or its type's. */
export type ValueOf<D> = D extends { input: z.ZodType<infer Output> } ? Output : D extends { type: infer T extends AttributeType } ? TypeValues[T] : never;

type ColumnName<K extends string, D> = D extends { column: infer C extends string } ? C : CamelCase<K>;
/** Attributes stored in a column of their own when written with `Flag` (no hook, a column). */
type OwnColumnKey<A, Flag extends 'creatable' | 'updatable'> = {
  [K in keyof A & string]: A[K] extends { [F in Flag]: true } ? (A[K] extends { write: unknown } | { column: null } ? never : K) : never;
}[keyof A & string];
type RequiredKey<A> = { [K in keyof A & string]: A[K] extends { required: true } ? K : never }[keyof A & string];
type LinkKey<R, Flag extends 'creatable' | 'updatable'> = {
  [K in keyof R & string]: R[K] extends { [F in Flag]: true } & { kind: 'to_one'; foreignKey: string } ? K : never;
}[keyof R & string];
type ForeignKey<D> = D extends { foreignKey: infer F extends string } ? F : never;

export type CreateColumns<A, R> = {
  [K in OwnColumnKey<A, 'creatable'> & RequiredKey<A> as ColumnName<K, A[K]>]: ValueOf<A[K]>;
} & {
  [K in Exclude<OwnColumnKey<A, 'creatable'>, RequiredKey<A>> as ColumnName<K, A[K]>]?: ValueOf<A[K]> | null;
} & {
  [K in LinkKey<R, 'creatable'> & RequiredKey<R> as ForeignKey<R[K]>]: string;
} & {
  [K in Exclude<LinkKey<R, 'creatable'>, RequiredKey<R>> as ForeignKey<R[K]>]?: string | null;
} & Columns;

// A required field cannot be cleared by an update: document.ts refuses its null.
export type UpdateColumns<A, R> = {
  [K in OwnColumnKey<A, 'updatable'> & RequiredKey<A> as ColumnName<K, A[K]>]?: ValueOf<A[K]>;
} & {
  [K in Exclude<OwnColumnKey<A, 'updatable'>, RequiredKey<A>> as ColumnName<K, A[K]>]?: ValueOf<A[K]> | null;
} & {
  [K in LinkKey<R, 'updatable'> & RequiredKey<R> as ForeignKey<R[K]>]?: string;
} & {
  [K in Exclude<LinkKey<R, 'updatable'>, RequiredKey<R>> as ForeignKey<R[K]>]?: string | null;
} & Columns;

/** A declaration as written: its fields, relationships and triggers, typed as given. */
export type Declaration<
  Row extends { id: string },
  Services,
  A extends Record<string, AttributeDeclaration<Row>>,
  R extends Record<string, RelationshipDeclaration<Row>>,
> = Omit<ResourceDeclaration<Row, Services>, 'attributes' | 'relationships' | 'triggers' | 'create' | 'update' | 'remove'> & {
  attributes: A;
  relationships: R;
  triggers?: Record<string, TriggerDeclaration<Services>>;
};

/**
 * What a domain create resolves to: the new record's id and, when the create's own
 * statements left it with the record as a read of it returns it (the model's fields and the
 * declaration's `load`, as Prisma gives them), that row: the engine answers with it instead
 * of reading the record back, unless a trigger or an `afterCommit` effect of the request ran.
 */
export interface CreatedRecord {
  id: string;
  shownRow?: Row;
}

/** The domain's steps for a resource's writes, given the columns its declaration maps the fields to. */
export interface DomainWrites<Row extends { id: string }, Services, A, R> {
  create?: (services: Services, columns: CreateColumns<A, R>, context: WriteContext<Services>) => Promise<unknown>;
  update?: (services: Services, row: Row, columns: UpdateColumns<A, R>, context: WriteContext<Services>) => Promise<unknown>;
  remove?: (services: Services, row: Row) => Promise<void>;
}

export type DeclaredResource<Row extends { id: string }, Services, A, R> = ResourceDeclaration<Row, Services> & {
  /**
   * The resource's writes go through these domain steps (`.writtenBy({ create: createOrder })`):
   * a second call, so that the columns they take are typed from the fields declared in the first.
   */
  writtenBy(steps: DomainWrites<Row, Services, A, R>): ResourceDeclaration<Row, Services>;
};

/**
 * Declares a resource: `defineResource<Order, Services>()({ ... })`, the first call giving
 * the row type, the second the declaration, whose fields are inferred. Triggers and their
 * parameters join the attributes as write-only fields, so that documents, access rules and
 * the OpenAPI document treat them as the attributes they are in JSON:API.
 */
export function defineResource<Row extends { id: string }, Services>() {
  return <const A extends Record<string, AttributeDeclaration<Row>>, const R extends Record<string, RelationshipDeclaration<Row>>>(
    declaration: Declaration<Row, Services, A, R>,
  ): DeclaredResource<Row, Services, A, R> => {
    const triggers = declaration.triggers ?? {};
    const attributes: Record<string, AttributeDeclaration<Row>> = { ...declaration.attributes };
    for (const [name, declared] of Object.entries(triggers)) {
      const flags = { updatable: true, creatable: declared.creatable ?? false, fetchable: false, column: null, ...(declared.prohibited ? { prohibited: true } : {}) };
      attributes[name] = { type: 'boolean', ...flags };
      for (const [parameter, attribute] of Object.entries(declared.parameters ?? {})) attributes[parameter] = { ...attribute, ...flags };
    }
    const resource = { ...declaration, attributes, triggers } as ResourceDeclaration<Row, Services>;
    // The engine hands the steps the columns it mapped: typed above, plain columns below.
    const writtenBy = (steps: DomainWrites<Row, Services, A, R>) => ({ ...resource, ...steps }) as ResourceDeclaration<Row, Services>;
    return Object.defineProperty(resource, 'writtenBy', { value: writtenBy, enumerable: false }) as DeclaredResource<Row, Services, A, R>;
  };
}

/** The types a write may link for a relationship: its own, then those it also accepts. */
export function linkableTypes(relationship: Pick<RelationshipDeclaration<unknown>, 'types' | 'alsoAccepts'>): readonly string[] {
  return relationship.alsoAccepts ? [...relationship.types, ...relationship.alsoAccepts] : relationship.types;
}

/** The trigger (if any) a parameter attribute goes with. */
export function triggerOfParameter(declaration: { triggers: Record<string, TriggerDeclaration<never>> }, name: string): string | undefined {
  for (const [trigger, declared] of Object.entries(declaration.triggers)) if (declared.parameters && Object.hasOwn(declared.parameters, name)) return trigger;
  return undefined;
}

// Names come from the declarations (a few hundred): serialising a row asks for each of them again.
const camelCased = new Map<string, string>();

export function camelCase(name: string): string {
  let camel = camelCased.get(name);
  if (camel === undefined) {
    camel = name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
    // Bounded, in case a caller ever passes names from a request.
    if (camelCased.size < 2_000) camelCased.set(name, camel);
  }
  return camel;
}

export function columnOf<Row>(name: string, attribute: AttributeDeclaration<Row>): string | null {
  return attribute.column === undefined ? camelCase(name) : attribute.column;
}

/** The SQL column of a Prisma field: the schema maps every field to its snake_case. */
export function sqlColumn(field: string): string {
  return columnOfField(field);
}

// The engine handles declarations of any row type; handlers are typed at their declaration.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyResource = ResourceDeclaration<any, any>;
export type Row = { id: string } & Record<string, unknown>;
