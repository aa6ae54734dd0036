import type Stripe from 'stripe';
import type { StripeGateway, StripePayment } from '../generated/prisma/client.ts';
import type { Services } from '../services.ts';
import type { Tx } from './locks.ts';

/**
 * The one place a gateway becomes a Stripe client: its sealed secret key opened, the SDK
 * instance for that key, and the connected account a request goes to. Nothing else opens
 * a gateway's key.
 */

/** A Stripe account as the SDK reaches it: the client of its key and the options of every request to it. */
export interface StripeAccount {
  client: Stripe;
  /** `stripeAccount` for a connected account; spread into every call's request options. */
  requestOptions: Stripe.RequestOptions;
}

type SealedGateway = Pick<StripeGateway, 'loginEncrypted'>;

/** The account of a gateway, for requests to `connectedAccount` (null: the gateway's own account). */
export function gatewayAccount(services: Services, gateway: SealedGateway, connectedAccount: string | null): StripeAccount {
  const client = services.stripe.forSealedKey(gateway.loginEncrypted, services.secretBox.open);
  return { client, requestOptions: connectedAccount ? { stripeAccount: connectedAccount } : {} };
}

/** The gateway's client, or undefined when its key was sealed with another encryption key (another deployment's). */
export function gatewayClientIfOurs(services: Services, gateway: SealedGateway): Stripe | undefined {
  try {
    return gatewayAccount(services, gateway, null).client;
  } catch {
    return undefined;
  }
}

/**
 * The account a payment's PaymentIntent lives in: its gateway's key and the connected
 * account recorded at creation, not the gateway's current one, since the PaymentIntent
 * stays where it was made.
 */
export async function paymentAccount(
  services: Services,
  payment: Pick<StripePayment, 'paymentGatewayId' | 'connectedAccount'>,
  db: Tx | Services['db'] = services.db,
): Promise<StripeAccount> {
  const gateway = await db.stripeGateway.findUniqueOrThrow({ where: { id: payment.paymentGatewayId }, select: { loginEncrypted: true } });
  return gatewayAccount(services, gateway, payment.connectedAccount);
}
