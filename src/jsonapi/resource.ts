import type { z } from 'zod';

/**
 * A resource's whole public contract in one declaration, in the shape of Commerce
 * Layer's schema (resources.subset.json): each field with its flags, each relationship,
 * the actions. The generic engine (routes.ts) derives validation, serialization,
 * routes and query rules from it; the resource module only adds domain handlers.
 */

export type AttributeType = 'string' | 'integer' | 'float' | 'boolean' | 'object' | 'datetime';
export type Action = 'list' | 'retrieve' | 'create' | 'update' | 'delete';

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
  /** Validates a client-supplied value (create and update). Defaults follow `type`. */
  input?: z.ZodType;
  /** Database field; defaults to the camelCase of the attribute name. Absent for triggers. */
  column?: string | null;
  /** The stored type when it differs from the JSON one (an order number is an integer column shown as a string). */
  columnType?: AttributeType;
  /** Computed value (amount floats, formatted amounts); otherwise the column is read. */
  read?: (row: Row) => unknown;
  /** Commerce Layer's "cannot be passed by sales channels" (e.g. prices, `_capture`). */
  prohibited?: boolean;
  /** The columns a value writes, for triggers the engine applies itself (`_disable` sets disabled_at). */
  write?: (value: unknown) => Record<string, unknown>;
}

export interface RelationshipDeclaration<Row> {
  kind: 'to_one' | 'to_many';
  /** Types the linkage may name; more than one means polymorphic. */
  types: readonly string[];
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
  attributes: Record<string, AttributeDeclaration<Row>>;
  relationships: Record<string, RelationshipDeclaration<Row>>;
  /** Absent: integration tokens only. */
  storefront?: StorefrontAccess;
  /** Rows the API never shows (e.g. a payment whose PaymentIntent is still being created): field = value. */
  visibleWhere?: Record<string, string | number | boolean>;
  /** Related data that computed attributes read (a Prisma `include`), loaded with every row. */
  load?: Record<string, unknown>;
  meta?: (row: Row) => Record<string, unknown>;
  /** Domain behaviour; when absent the engine writes the mapped columns itself. */
  create?: (services: Services, input: WriteInput) => Promise<Row>;
  update?: (services: Services, row: Row, input: WriteInput) => Promise<Row>;
  remove?: (services: Services, row: Row) => Promise<void>;
}

export function defineResource<Row extends { id: string }, Services>(
  declaration: ResourceDeclaration<Row, Services>,
): ResourceDeclaration<Row, Services> {
  return declaration;
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
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

// The engine handles declarations of any row type; handlers are typed at their declaration.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyResource = ResourceDeclaration<any, any>;
export type Row = { id: string } & Record<string, unknown>;
