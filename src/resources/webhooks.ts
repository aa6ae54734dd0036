import { z } from 'zod';
import type { EventCallback, Webhook } from '../generated/prisma/client.ts';
import { defineResource, trigger } from '../jsonapi/resource.ts';
import type { Services } from '../services.ts';
import { callbackUrlProblem } from '../webhooks/callback-url.ts';
import { webhookTopics } from '../webhooks/topics.ts';
import { createWebhook, regenerateSharedSecret, resetCircuit, updateWebhook } from '../webhooks/webhooks.ts';
import { commonAttributes, disableTriggers } from './common.ts';

// The secret exists in memory only while the create (or regenerate) response is written.
type WebhookRow = Webhook & { sharedSecret?: string };

// The rule of src/webhooks/callback-url.ts; loopback receivers only outside production.
const callbackUrlInput = z
  .string()
  .max(2000)
  .superRefine((value, ctx) => {
    const problem = callbackUrlProblem(value, { allowLoopback: process.env.NODE_ENV !== 'production' });
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * Commerce Layer's webhooks: a topic's events POSTed, signed, to a callback URL
 * (src/webhooks/). Integration tokens only. `shared_secret` is in the create response
 * and a `_regenerate_shared_secret` response only: sealed at rest, it cannot be read back.
 */
export const webhooks = defineResource<WebhookRow, Services>()({
  type: 'webhooks',
  model: 'webhook',
  table: 'webhooks',
  actions: ['list', 'retrieve', 'create', 'update', 'delete'],
  attributes: {
    name: { type: 'string', creatable: true, updatable: true, filterable: true, input: z.string().min(1).max(255) },
    topic: {
      type: 'string',
      creatable: true,
      updatable: true,
      required: true,
      filterable: true,
      input: z.enum(webhookTopics, { message: `must be one of ${webhookTopics.join(', ')}` }),
    },
    callback_url: { type: 'string', creatable: true, updatable: true, required: true, input: callbackUrlInput },
    include_resources: { type: 'array', creatable: true, updatable: true },
    shared_secret: { type: 'string', column: null, read: (webhook) => webhook.sharedSecret ?? null },
    circuit_state: { type: 'string', filterable: true, sortable: true },
    circuit_failure_count: { type: 'integer', filterable: true, sortable: true },
    disabled_at: { type: 'datetime', filterable: true, sortable: true },
    ...commonAttributes(),
  },
  relationships: {
    last_event_callbacks: { kind: 'to_many', types: ['event_callbacks'], inverseKey: 'webhookId' },
  },
  triggers: {
    ...disableTriggers,
    _reset_circuit: trigger(resetCircuit, { prohibited: true }),
    _regenerate_shared_secret: trigger(regenerateSharedSecret),
  },
}).writtenBy({ create: createWebhook, update: updateWebhook });

/** One delivery attempt of a webhook's event: what was sent and what the endpoint answered. Read-only. */
export const eventCallbacks = defineResource<EventCallback, Services>()({
  type: 'event_callbacks',
  model: 'eventCallback',
  table: 'event_callbacks',
  actions: ['list', 'retrieve'],
  attributes: {
    callback_url: { type: 'string', filterable: true },
    payload: { type: 'object' },
    response_code: { type: 'string', filterable: true, sortable: true },
    response_message: { type: 'string', filterable: true, sortable: true },
    ...commonAttributes(),
  },
  relationships: {
    webhook: { kind: 'to_one', types: ['webhooks'], foreignKey: 'webhookId' },
  },
});
