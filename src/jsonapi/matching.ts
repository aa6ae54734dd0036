import type { RowCondition } from '../db/sql/conditions.ts';
import { sqlColumn, type RelatedMatch, type Row } from './resource.ts';

/**
 * A to-many relationship that has no foreign key (RelatedMatch): its rows for an owner,
 * as SQL for the read (one condition per owner, OR-ed: one query for a whole page), and
 * as a test that hands each row read to the owners it belongs to.
 */

type Value = string | number | boolean | null;

function fieldValue(row: Row, field: string): Value {
  const value = row[field];
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  return value as Value;
}

/** The related rows of one owner, as a condition on the related table. */
export function matchCondition(match: RelatedMatch, owner: Row): RowCondition {
  const parts: RowCondition[] = [];
  for (const [field, ownerField] of Object.entries(match.same ?? {})) parts.push({ column: sqlColumn(field), is: fieldValue(owner, ownerField) });
  for (const [field, ownerField] of Object.entries(match.sameOrUnset ?? {})) {
    const value = fieldValue(owner, ownerField);
    parts.push(value === null ? { column: sqlColumn(field), is: null } : { or: [{ column: sqlColumn(field), is: value }, { column: sqlColumn(field), is: null }] });
  }
  for (const field of match.unset ?? []) parts.push({ column: sqlColumn(field), is: null });
  return { and: parts };
}

/** Whether a related row read belongs to this owner: the same test as matchCondition. */
export function matchesRow(match: RelatedMatch, owner: Row, row: Row): boolean {
  const same = Object.entries(match.same ?? {}).every(([field, ownerField]) => fieldValue(row, field) === fieldValue(owner, ownerField));
  const sameOrUnset = Object.entries(match.sameOrUnset ?? {}).every(([field, ownerField]) => {
    const value = fieldValue(row, field);
    return value === null || value === fieldValue(owner, ownerField);
  });
  return same && sameOrUnset && (match.unset ?? []).every((field) => fieldValue(row, field) === null);
}
