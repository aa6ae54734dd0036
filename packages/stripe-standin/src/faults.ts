/**
 * Faults a test injects to see how the client copes with an unreliable Stripe. Each
 * request takes at most one fault: the oldest one still armed whose `match` fits. A
 * fault disarms itself after `times` requests.
 */

export interface FaultMatch {
  /** HTTP method, e.g. 'POST'. */
  method?: string;
  /** Path prefix, e.g. '/v1/payment_intents'. */
  pathPrefix?: string;
}

export type Fault =
  /** Answer with this status and Stripe's error body, without acting on the request. */
  | { kind: 'status'; status: 500 | 429 | 503; times: number; match?: FaultMatch }
  /** Act on the request and store its result (idempotency record included), then close the socket unanswered. */
  | { kind: 'drop_after_processing'; times: number; match?: FaultMatch }
  /** Act on the request, then wait `ms` more before answering (the idempotency key stays in progress). */
  | { kind: 'delay'; ms: number; times: number; match?: FaultMatch };

export class FaultQueue {
  private armed: Array<{ fault: Fault; remaining: number }> = [];

  add(fault: Fault): void {
    if (!Number.isInteger(fault.times) || fault.times < 1) throw new TypeError('fault.times must be a positive integer');
    if (fault.kind === 'delay' && !(fault.ms >= 0)) throw new TypeError('fault.ms must be >= 0');
    this.armed.push({ fault: structuredClone(fault), remaining: fault.times });
  }

  clear(): void {
    this.armed = [];
  }

  /** The fault this request gets, if any; consumes one of its `times`. */
  take(method: string, path: string): Fault | undefined {
    const entry = this.armed.find(({ fault }) => matches(fault.match, method, path));
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining === 0) this.armed = this.armed.filter((e) => e !== entry);
    return entry.fault;
  }
}

function matches(match: FaultMatch | undefined, method: string, path: string): boolean {
  if (match?.method && match.method.toUpperCase() !== method) return false;
  if (match?.pathPrefix && !path.startsWith(match.pathPrefix)) return false;
  return true;
}
