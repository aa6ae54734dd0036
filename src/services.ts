import type { Logger } from 'pino';
import type { SecretBox } from './crypto/secret-box.ts';
import type { PrismaClient } from './db/client.ts';
import type { SqlTransactions } from './db/sql-transaction.ts';
import type { WebhookEndpointSettings } from './payments/stripe-webhook-endpoints.ts';
import type { StripeClients } from './stripe/client.ts';

/** What domain modules need, passed explicitly so they run without a server. */
export interface Services {
  db: PrismaClient;
  /** Transactions on `db`'s pool without Prisma's engine: the money path's (src/db/sql-transaction.ts). */
  transactions: SqlTransactions;
  stripe: StripeClients;
  secretBox: SecretBox;
  logger: Logger;
  /** The API's cache of recent token checks, which removing an application must empty; absent outside the API. */
  tokenChecks?: { forgetAll(): void };
  /**
   * Where Stripe reaches this server's webhook endpoints, filled in by the HTTP layer once
   * it knows (src/routes/stripe-webhooks.ts); absent outside the server: URLs stay relative and
   * nothing is registered at Stripe.
   */
  stripeWebhookEndpoints?: WebhookEndpointSettings;
}
