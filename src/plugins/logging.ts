import { randomUUID } from 'node:crypto';
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';
import type { AppConfig } from '../config.ts';

/**
 * What the app logs and how a request is named in it: pino with every secret path
 * redacted, one line per completed request (no headers, no bodies), and a request id
 * taken from a well-formed X-Request-Id or made up, echoed in every response.
 */

/** Everything secret that could reach a log line, by path; pino replaces it with "[Redacted]". */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  '*.authorization',
  '*.client_secret',
  '*.clientSecret',
  '*.access_token',
  '*.login',
  '*.loginEncrypted',
  '*.secret',
  '*.secretKey',
  '*.password',
  '*.headers.authorization',
  'err.raw.headers.authorization',
];

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON:API code of the error answered, for the request's log line. */
    errorCode?: string;
  }
}

// In a terminal the request's fields are in its message: these are not printed again.
const requestFields = ['method', 'url', 'status', 'ms', 'code'];

function loggerOptions(config: Pick<AppConfig, 'logLevel' | 'prettyLogs'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: redactedPaths, censor: '[Redacted]' },
    ...(config.prettyLogs
      ? {
          transport: {
            target: 'pino-pretty',
            // One line per entry: the other fields (reqId) follow the message on its line.
            options: { translateTime: 'SYS:HH:MM:ss.l', ignore: ['pid', 'hostname', ...requestFields].join(','), singleLine: true },
          },
        }
      : {}),
  };
}

/**
 * One log line per request, written when it completes, with its id and, for an error, its
 * code; no headers or bodies. In a terminal the message says it all: `GET /api/orders 401
 * UNAUTHORIZED 3 ms`.
 */
class OneLinePerRequest extends LogController {
  constructor(private readonly pretty: boolean) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      ...(request.errorCode ? { code: request.errorCode } : {}),
    };
    const summary = `${line.method} ${line.url} ${line.status}${line.code ? ` ${line.code}` : ''} ${line.ms} ms`;
    if (error) reply.log.error({ ...line, err: error }, this.pretty ? summary : 'request errored');
    else reply.log.info(line, this.pretty ? summary : 'request');
  }
}

const requestIdPattern = /^[A-Za-z0-9_.-]{8,64}$/;

/** The Fastify constructor's logging options; a `logStream` (tests capture lines) always gets JSON lines. */
export function loggingOptions(
  config: Pick<AppConfig, 'logLevel' | 'prettyLogs'>,
  logStream?: DestinationStream,
): Pick<FastifyServerOptions, 'logger' | 'logController' | 'requestIdHeader' | 'genReqId'> {
  return {
    logger: logStream ? { ...loggerOptions({ ...config, prettyLogs: false }), stream: logStream } : loggerOptions(config),
    logController: new OneLinePerRequest(!logStream && config.prettyLogs),
    requestIdHeader: false,
    genReqId: (request) => {
      const offered = request.headers['x-request-id'];
      return typeof offered === 'string' && requestIdPattern.test(offered) ? offered : randomUUID();
    },
  };
}

/** Every response names its request, so a client's report can be found in the log. */
export function useRequestIdHeader(app: FastifyInstance): void {
  // A callback hook: it never waits, and an async one costs every request a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });
}
