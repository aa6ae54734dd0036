import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JsonApiError } from '../jsonapi/errors.ts';

/**
 * Client text PostgreSQL cannot hold, and documents too deep to handle, refused where
 * input enters: once per request, after the body is parsed and before validation, the
 * Idempotency-Key fingerprint, Prisma or SQL see it. PostgreSQL refuses a NUL character in
 * text and jsonb, and a lone UTF-16 surrogate (`"\ud800"`) in jsonb (text would silently
 * store U+FFFD instead), so both are refused everywhere: in path parameters and at any
 * depth of a JSON or form body, in keys as in values. Bodies nested deeper than
 * `maxBodyDepth` are refused too: recursive code (validation, JSON.stringify, Prisma's
 * serialisation) would otherwise overflow the stack on a body well within the size limit.
 * The walk itself is iterative, so no document can overflow it.
 */

/** Containers (objects and arrays) nested in a body, the document itself counting as one. */
export const maxBodyDepth = 32;

// A NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// biome-ignore lint/suspicious/noControlCharactersInRegex: a NUL is what this pattern looks for
const unstorable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export type InputProblem = { kind: 'text' | 'depth'; path: string[] };

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * The first problem of a parsed body, or undefined. Paths stop at the field: a pointer to
 * `/data/attributes/metadata` names what to fix without echoing an unbounded path.
 */
export function findInputProblem(value: unknown, maxDepth = maxBodyDepth): InputProblem | undefined {
  const stack: { value: unknown; path: string[]; depth: number }[] = [{ value, path: [], depth: 0 }];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop()!;
    if (typeof current === 'string') {
      if (unstorable.test(current)) return { kind: 'text', path };
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > maxDepth) return { kind: 'depth', path };
    const entries: [string, unknown][] = Array.isArray(current)
      ? current.map((item, index) => [String(index), item])
      : Object.entries(current as Record<string, unknown>);
    // Pushed last to first, so the first problem in document order is the one reported.
    for (const [key, item] of entries.reverse()) {
      if (!Array.isArray(current) && unstorable.test(key)) return { kind: 'text', path };
      stack.push({ value: item, path: path.length < 3 ? [...path, key] : path, depth: depth + 1 });
    }
  }
  return undefined;
}

const textDetail = 'must not contain a NUL character or an unpaired UTF-16 surrogate';

function bodyError(request: FastifyRequest, problem: InputProblem): JsonApiError {
  const pointer = problem.path.map((segment) => `/${escapePointer(segment)}`).join('');
  const field = problem.path.at(-1) ?? 'body';
  if (request.url.startsWith('/oauth')) {
    // OAuth clients read `code`; the field is named in the detail as the grant errors do.
    const detail = problem.kind === 'depth' ? `body: is nested deeper than ${maxBodyDepth} levels` : `${field}: ${textDetail}`;
    return new JsonApiError(400, [{ title: 'invalid_request', detail, code: 'INVALID_REQUEST', source: { pointer } }]);
  }
  if (problem.kind === 'depth') {
    return new JsonApiError(400, [
      { title: 'Bad request', detail: `The document is nested deeper than ${maxBodyDepth} levels`, code: 'BAD_REQUEST', source: { pointer } },
    ]);
  }
  return new JsonApiError(422, [{ title: textDetail, detail: `${field} - ${textDetail}`, code: 'VALIDATION_ERROR', source: { pointer } }]);
}

/** Registers the guard for every route of the app; call it before any route is registered. */
export function useInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', (request, _reply, done) => {
    const params = request.params as Record<string, unknown> | undefined;
    for (const [name, value] of Object.entries(params ?? {})) {
      if (typeof value === 'string' && unstorable.test(value)) {
        throw new JsonApiError(400, [{ title: 'Bad request', detail: `${name} - ${textDetail}`, code: 'BAD_REQUEST', source: { parameter: name } }]);
      }
    }
    // Raw bodies (Stripe's signed webhooks, a Buffer) are verified byte for byte, not walked.
    const body = request.body;
    if (typeof body === 'object' && body !== null && !Buffer.isBuffer(body)) {
      const problem = findInputProblem(body);
      if (problem) throw bodyError(request, problem);
    }
    done();
  });
}
