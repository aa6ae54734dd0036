/** JSON:API's media type, and the negotiation rules for it (the plugin that applies them: src/plugins/json-api-media-type.ts). */
export const mediaType = 'application/vnd.api+json';

interface MediaRange {
  type: string;
  parameters: string[];
}

function parseMediaRanges(header: string): MediaRange[] {
  return header.split(',').map((range) => {
    const [type = '', ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    return { type, parameters: parameters.filter((parameter) => !parameter.startsWith('q=')) };
  });
}

/**
 * JSON:API negotiation: the client must accept application/vnd.api+json without media
 * type parameters (or a wildcard covering it). No Accept header means "anything" (RFC 9110).
 */
export function acceptsJsonApi(accept: string | undefined): boolean {
  // What the SDKs send on every request: no need to parse it.
  if (accept === undefined || accept === mediaType) return true;
  if (accept.trim() === '') return true;
  return parseMediaRanges(accept).some(
    ({ type, parameters }) =>
      (type === mediaType && parameters.length === 0) || type === '*/*' || type === 'application/*',
  );
}

/** A request body must be exactly our media type; `charset=utf-8` is tolerated because many clients add it. */
export function isJsonApiContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [range] = parseMediaRanges(contentType);
  return range?.type === mediaType && range.parameters.every((parameter) => parameter === 'charset=utf-8');
}
