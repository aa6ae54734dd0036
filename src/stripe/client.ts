import Stripe from 'stripe';

export interface StripeEndpoint {
  /** Where the SDK sends requests: Stripe's API, a stripe-mock, or the local stand-in. */
  apiUrl: URL;
  timeoutMs: number;
  maxNetworkRetries: number;
}

/**
 * One SDK instance per secret key (each gateway brings its own Stripe account), all
 * pointed at the configured endpoint. Instances are cached: they hold keep-alive agents.
 */
export class StripeClients {
  private readonly clients = new Map<string, Stripe>();
  /** By a gateway's sealed key: a create would otherwise decrypt it each time. Only keys that opened are kept. */
  private readonly bySealedKey = new Map<string, Stripe>();

  constructor(private readonly endpoint: StripeEndpoint) {}

  /** The client of a sealed secret key, opened by `open` the first time it is seen (a key that does not open throws). */
  forSealedKey(sealedKey: string, open: (sealed: string) => string): Stripe {
    let client = this.bySealedKey.get(sealedKey);
    if (!client) {
      client = this.forKey(open(sealedKey));
      this.bySealedKey.set(sealedKey, client);
    }
    return client;
  }

  forKey(secretKey: string): Stripe {
    let client = this.clients.get(secretKey);
    if (!client) {
      const { apiUrl } = this.endpoint;
      const protocol = apiUrl.protocol === 'http:' ? 'http' : 'https';
      client = new Stripe(secretKey, {
        host: apiUrl.hostname,
        port: Number(apiUrl.port || (protocol === 'http' ? 80 : 443)),
        protocol,
        timeout: this.endpoint.timeoutMs,
        maxNetworkRetries: this.endpoint.maxNetworkRetries,
        telemetry: false,
        appInfo: { name: 'stripe-payments-api' },
      });
      this.clients.set(secretKey, client);
    }
    return client;
  }
}

/** "test" for sk_test_/rk_test_ keys, "live" otherwise, as Stripe's livemode. */
export function modeOfKey(secretKey: string): 'test' | 'live' {
  return /^(sk|rk)_live_/.test(secretKey) ? 'live' : 'test';
}
