// Request bodies Swagger UI's "Try it out" starts from, one per write operation. Without
// them it makes one up from the schema (ids from regexes, a random receipt_email,
// `additionalProp1` in metadata), which the server rightly answers 422. Each is a request
// the server accepts once the ids in it name records of yours (test/openapi.test.ts
// checks each against its schema; the browser test sends the stripe payment one).

type Body = { data: Record<string, unknown> };

const linked = (type: string, id: string) => ({ data: { type, id } });

/** The request of Commerce Layer's "Create a stripe payment" page. */
export const createStripePaymentExample: Body = {
  data: { type: 'stripe_payments', relationships: { order: linked('orders', 'QWERtyUpBa') } },
};

export const requestExamples: Record<string, { create?: Body; update?: Body }> = {
  orders: {
    create: {
      data: {
        type: 'orders',
        attributes: { currency_code: 'EUR', customer_email: 'shopper@example.com', language_code: 'en' },
        relationships: { payment_method: linked('payment_methods', 'PAYMENT_METHOD_ID') },
      },
    },
    update: { data: { type: 'orders', id: 'ORDER_ID', attributes: { _place: true } } },
  },
  line_items: {
    create: {
      data: {
        type: 'line_items',
        attributes: { sku_code: 'TSHIRT', name: 'T-shirt', quantity: 2, unit_amount_cents: 1500 },
        relationships: { order: linked('orders', 'ORDER_ID') },
      },
    },
    update: { data: { type: 'line_items', id: 'LINE_ITEM_ID', attributes: { quantity: 3 } } },
  },
  stripe_gateways: {
    create: { data: { type: 'stripe_gateways', attributes: { name: 'Stripe', login: 'sk_test_123', publishable_key: 'pk_test_123' } } },
    update: { data: { type: 'stripe_gateways', id: 'GATEWAY_ID', attributes: { name: 'Stripe EU' } } },
  },
  payment_methods: {
    create: {
      data: {
        type: 'payment_methods',
        attributes: { payment_source_type: 'stripe_payments', currency_code: 'EUR', price_amount_cents: 0 },
        relationships: { payment_gateway: linked('stripe_gateways', 'GATEWAY_ID') },
      },
    },
    update: { data: { type: 'payment_methods', id: 'PAYMENT_METHOD_ID', attributes: { name: 'Card' } } },
  },
  stripe_payments: {
    create: createStripePaymentExample,
    update: { data: { type: 'stripe_payments', id: 'STRIPE_PAYMENT_ID', attributes: { _update: true } } },
  },
  markets: {
    create: { data: { type: 'markets', attributes: { name: 'Europe', code: 'europe' } } },
    update: { data: { type: 'markets', id: 'MARKET_ID', attributes: { name: 'Europe (EUR)' } } },
  },
  customers: {
    create: { data: { type: 'customers', attributes: { email: 'customer@example.com', password: 'a long secret phrase' } } },
    update: { data: { type: 'customers', id: 'CUSTOMER_ID', attributes: { reference: 'CRM-42' } } },
  },
  authorizations: {
    update: { data: { type: 'authorizations', id: 'AUTHORIZATION_ID', attributes: { _capture: true } } },
  },
  captures: {
    update: { data: { type: 'captures', id: 'CAPTURE_ID', attributes: { _refund: true, _refund_amount_cents: 500 } } },
  },
  refunds: {
    update: { data: { type: 'refunds', id: 'REFUND_ID', attributes: { reference: 'RMA-42' } } },
  },
  voids: {
    update: { data: { type: 'voids', id: 'VOID_ID', attributes: { reference_origin: 'back office' } } },
  },
  webhooks: {
    create: {
      data: { type: 'webhooks', attributes: { name: 'ERP', topic: 'orders.place', callback_url: 'https://erp.example.com/hooks/orders', include_resources: ['line_items'] } },
    },
    update: { data: { type: 'webhooks', id: 'WEBHOOK_ID', attributes: { _reset_circuit: true } } },
  },
  applications: {
    create: { data: { type: 'applications', attributes: { name: 'Back office', kind: 'integration' } } },
    update: { data: { type: 'applications', id: 'APPLICATION_ID', attributes: { name: 'Back office (EU)' } } },
  },
};

/** The token request Swagger UI's and Postman's users send first. */
export const tokenRequestExample = { grant_type: 'client_credentials', client_id: 'YOUR_CLIENT_ID', client_secret: 'YOUR_CLIENT_SECRET' };

/** Revokes a refresh token (or an access token) of that client. */
export const revokeRequestExample = { client_id: 'YOUR_CLIENT_ID', client_secret: 'YOUR_CLIENT_SECRET', token: 'REFRESH_OR_ACCESS_TOKEN' };
