import { changedColumns, recordChange, type Change } from '../changes.ts';
import type { Prisma } from '../db/client.ts';
import { DomainError } from '../domain-error.ts';
import { newId } from '../ids.ts';
import { withKeyedCreate } from '../keyed-writes.ts';
import { answering } from './domain-error-mapping.ts';
import { validationError, validationErrors } from './errors.ts';
import { columnOf, triggerOfParameter, type Columns, type CreatedRecord, type WriteContext, type WriteInput } from './resource.ts';
import type { AnyResource, ResourceStore, Row } from './store.ts';

/**
 * The writes of every declaration, one way: the document's attributes and to-one
 * relationships are mapped to columns (`toColumns`: each field's own column, or what its
 * hook writes), handed to the domain's create or update when the resource has rules of
 * its own or stored here otherwise, then the triggers sent with the write run in the
 * declaration's order, each committed on its own. Nothing here knows a resource.
 */

/** What the request says about itself to the steps of a write. */
export interface RequestContext {
  /** Digest of the request's Idempotency-Key (set by the idempotency layer once it claimed the key). */
  requestKey: string | undefined;
  /** Told when the write shows a value once (a secret): the answer must then not be kept anywhere. */
  onShownOnce?: () => void;
  /** The claimed key's record, marked committed in a create's transaction (src/keyed-writes.ts). */
  keyRecordId?: string | undefined;
}

type Effect = (row: Row) => Promise<void>;

/** A write's context, and what it collects for after the commit. */
function writeContext(services: unknown, action: 'create' | 'update', request: RequestContext, row?: Row) {
  const shown: Record<string, unknown> = {};
  const effects: Effect[] = [];
  const context: WriteContext<unknown> = {
    services,
    action,
    ...(row ? { row } : {}),
    requestKey: request.requestKey,
    show: (field, value) => {
      shown[field] = value;
      request.onShownOnce?.();
    },
    afterCommit: (effect) => {
      effects.push(effect as Effect);
    },
  };
  return { context, shown, effects };
}

/** Is `name` a trigger, or the parameter of one? Those are not columns. */
function isTriggerField(declaration: AnyResource, name: string): boolean {
  return Object.hasOwn(declaration.triggers, name) || triggerOfParameter(declaration, name) !== undefined;
}

/**
 * The columns a validated write stores: each attribute's column (an object cleared with
 * null is stored empty), or the columns its hook writes; on create, the initial value of
 * attributes the write does not give; each to-one relationship's foreign key; and the
 * columns of the triggers sent with it that set some (`_disable`).
 */
export async function toColumns(declaration: AnyResource, input: WriteInput, context: WriteContext<unknown>): Promise<Columns> {
  const columns: Columns = {};
  for (const [name, attribute] of Object.entries(declaration.attributes)) {
    if (context.action !== 'create' || !attribute.initial || input.attributes[name] !== undefined) continue;
    const column = columnOf(name, attribute);
    if (column !== null) columns[column] = attribute.initial();
  }
  for (const [name, value] of Object.entries(input.attributes)) {
    if (isTriggerField(declaration, name)) continue;
    const attribute = declaration.attributes[name]!;
    if (attribute.write) {
      const write = attribute.write as (value: unknown, context: WriteContext<unknown>) => Columns | Promise<Columns>;
      Object.assign(columns, await write(value, context));
      continue;
    }
    const column = columnOf(name, attribute);
    if (column !== null) columns[column] = value === null && attribute.type === 'object' ? {} : value;
  }
  for (const [name, linkage] of Object.entries(input.relationships)) {
    const foreignKey = declaration.relationships[name]!.foreignKey;
    if (foreignKey) columns[foreignKey] = linkage?.id ?? null;
  }
  for (const [name, trigger] of Object.entries(declaration.triggers)) {
    if (trigger.columns && input.attributes[name] === true) Object.assign(columns, trigger.columns(context));
  }
  return columns;
}

/** The slice of a Prisma model delegate a generic write uses. */
interface RecordDelegate {
  create(args: { data: Columns }): Promise<{ id: string }>;
  update(args: { where: { id: string }; data: Columns }): Promise<unknown>;
  delete(args: { where: { id: string } }): Promise<unknown>;
}

interface TransactionalDatabase {
  $transaction<T>(work: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T>;
}

export class Writes {
  constructor(
    private readonly services: { db: object },
    private readonly store: ResourceStore,
  ) {}

  /** Runs `work` in a transaction with the model's delegate, and describes the change in it (src/changes.ts). */
  private async inTransaction<T extends { id: string }>(
    declaration: AnyResource,
    work: (delegate: RecordDelegate, tx: Prisma.TransactionClient) => Promise<T>,
    change: (result: T) => Omit<Change, 'type'>,
  ) {
    return (this.services.db as TransactionalDatabase).$transaction(async (tx) => {
      const result = await work((tx as unknown as Record<string, RecordDelegate>)[declaration.model]!, tx);
      await recordChange(tx, { type: declaration.type, ...change(result) });
      return result;
    });
  }

  /** 422 with a pointer when a relationship names a record that does not exist. */
  private async assertRelatedExist(input: WriteInput): Promise<void> {
    for (const [name, linkage] of Object.entries(input.relationships)) {
      if (!linkage) continue;
      const found = this.store.registry.has(linkage.type) ? await this.store.findBy(linkage.type, 'id', [linkage.id]) : [];
      if (found.length === 0) throw validationError(`/data/relationships/${name}`, `${linkage.type} ${linkage.id} not found`);
    }
  }

  /** The written row as the API shows it: read back, with the values the write shows once. */
  private async readBack(declaration: AnyResource, id: string, shown: Record<string, unknown>): Promise<Row> {
    const row = await this.store.find(declaration.type, id);
    return Object.keys(shown).length > 0 ? { ...row, ...shown } : row;
  }

  async create(declaration: AnyResource, input: WriteInput, request: RequestContext): Promise<Row> {
    return withKeyedCreate(request.keyRecordId, declaration.type, () => this.createRecord(declaration, input, request));
  }

  private async createRecord(declaration: AnyResource, input: WriteInput, request: RequestContext): Promise<Row> {
    const { context, shown, effects } = writeContext(this.services, 'create', request);
    const created = await answering(async () => {
      const columns = await toColumns(declaration, input, context);
      if (declaration.create) return (await declaration.create(this.services, columns, context)) as Row;
      await this.assertRelatedExist(input);
      return this.inTransaction(
        declaration,
        (delegate) => delegate.create({ data: { id: newId(), ...columns } }),
        (row) => ({ id: row.id, event: 'create', changes: changedColumns(undefined, columns) }),
      );
    });
    for (const effect of effects) await effect(created as Row);
    const triggered = await this.runTriggers(declaration, created.id, input, request, shown);
    const { shownRow } = created as CreatedRecord;
    // An effect after the commit or a trigger may have changed the record since: read it then.
    if (shownRow && !triggered && effects.length === 0) return Object.keys(shown).length > 0 ? { ...shownRow, ...shown } : shownRow;
    return this.readBack(declaration, created.id, shown);
  }

  async update(declaration: AnyResource, row: Row, input: WriteInput, request: RequestContext): Promise<Row> {
    this.assertParametersHaveTheirTrigger(declaration, input);
    const { context, shown, effects } = writeContext(this.services, 'update', request, row);
    const fields = Object.keys(input.attributes).some((name) => !isTriggerField(declaration, name) || declaration.triggers[name]?.columns);
    if (fields || Object.keys(input.relationships).length > 0) {
      await answering(async () => {
        const columns = await toColumns(declaration, input, context);
        if (declaration.update) return declaration.update(this.services, row, columns, context);
        await this.assertRelatedExist(input);
        if (Object.keys(columns).length === 0) return undefined;
        return this.inTransaction(
          declaration,
          async (delegate) => {
            await delegate.update({ where: { id: row.id }, data: columns });
            return row;
          },
          () => ({ id: row.id, event: 'update', changes: changedColumns(row, columns) }),
        );
      });
      for (const effect of effects) await effect(row);
    }
    await this.runTriggers(declaration, row.id, input, request, shown);
    return this.readBack(declaration, row.id, shown);
  }

  async remove(declaration: AnyResource, row: Row): Promise<void> {
    await answering(async () => {
      if (declaration.remove) return declaration.remove(this.services, row);
      await this.inTransaction(
        declaration,
        async (delegate, tx) => {
          for (const { model, field, name } of declaration.deleteRestrictedBy ?? []) {
            const count = await (tx as unknown as Record<string, { count(args: { where: Columns }): Promise<number> }>)[model]!.count({ where: { [field]: row.id } });
            if (count > 0) throw new DomainError('invalid', { base: true }, `cannot be deleted: ${count} ${name} depend on it`);
          }
          await delegate.delete({ where: { id: row.id } });
          return row;
        },
        () => ({ id: row.id, event: 'destroy' }),
      );
    });
    await declaration.afterDelete?.(this.services, row);
  }

  /** Each trigger sent as `true` runs its step, in the declaration's order: a failing one leaves the earlier ones applied. */
  /** Runs the triggers the request sets; says whether any ran. */
  private async runTriggers(declaration: AnyResource, id: string, input: WriteInput, request: RequestContext, shown: Record<string, unknown>): Promise<boolean> {
    const show = (field: string, value: unknown) => {
      shown[field] = value;
    };
    let ran = false;
    for (const [name, trigger] of Object.entries(declaration.triggers)) {
      if (!trigger.run || input.attributes[name] !== true) continue;
      const parameters = Object.fromEntries(Object.keys(trigger.parameters ?? {}).filter((parameter) => input.attributes[parameter] !== undefined).map((parameter) => [parameter, input.attributes[parameter]]));
      await answering(() => trigger.run!(this.services, id, { requestKey: request.requestKey, parameters, show }));
      ran = true;
    }
    return ran;
  }

  /** A trigger's parameter (`_refund_amount_cents`) means nothing without its trigger. */
  private assertParametersHaveTheirTrigger(declaration: AnyResource, input: WriteInput): void {
    const failures = Object.keys(input.attributes)
      .map((name) => ({ name, trigger: triggerOfParameter(declaration, name) }))
      .filter(({ trigger }) => trigger !== undefined && input.attributes[trigger] !== true)
      .map(({ name, trigger }) => ({ pointer: `/data/attributes/${name}`, message: `is only taken with ${trigger}` }));
    if (failures.length > 0) throw validationErrors(failures);
  }
}
