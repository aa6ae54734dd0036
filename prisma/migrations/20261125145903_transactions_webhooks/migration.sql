-- AlterTable
ALTER TABLE "orders" ADD COLUMN     "cancelled_at" TIMESTAMP(3),
ADD COLUMN     "payment_updated_at" TIMESTAMP(3),
ADD COLUMN     "placed_at" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "stripe_gateways" ADD COLUMN     "webhook_endpoint_id" TEXT,
ADD COLUMN     "webhook_endpoint_url" TEXT,
ADD COLUMN     "webhook_secret_encrypted" TEXT;

-- AlterTable
ALTER TABLE "stripe_payments" ADD COLUMN     "reconcile_claimed_at" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "transactions" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "stripe_payment_id" TEXT,
    "reference_id" TEXT,
    "number" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'reserved',
    "currency_code" TEXT NOT NULL,
    "amount_cents" INTEGER NOT NULL,
    "succeeded" BOOLEAN NOT NULL DEFAULT false,
    "message" TEXT,
    "error_code" TEXT,
    "error_detail" TEXT,
    "token" TEXT,
    "gateway_transaction_id" TEXT,
    "mode" TEXT NOT NULL DEFAULT 'test',
    "reference" TEXT,
    "reference_origin" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "transactions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stripe_events" (
    "id" TEXT NOT NULL,
    "gateway_id" TEXT,
    "type" TEXT NOT NULL,
    "object_id" TEXT,
    "outcome" TEXT NOT NULL,
    "stripe_created_at" TIMESTAMP(3) NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stripe_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "transactions_order_id_idx" ON "transactions"("order_id");

-- CreateIndex
CREATE INDEX "transactions_reference_id_idx" ON "transactions"("reference_id");

-- CreateIndex
CREATE INDEX "transactions_stripe_payment_id_idx" ON "transactions"("stripe_payment_id");

-- CreateIndex
CREATE INDEX "transactions_state_updated_at_idx" ON "transactions"("state", "updated_at");

-- CreateIndex
CREATE INDEX "transactions_created_at_idx" ON "transactions"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "transactions_kind_gateway_transaction_id_key" ON "transactions"("kind", "gateway_transaction_id");

-- CreateIndex
CREATE INDEX "stripe_events_received_at_idx" ON "stripe_events"("received_at");

-- CreateIndex
CREATE INDEX "stripe_events_object_id_idx" ON "stripe_events"("object_id");

-- CreateIndex
CREATE INDEX "stripe_payments_status_updated_at_idx" ON "stripe_payments"("status", "updated_at");

-- AddForeignKey
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_stripe_payment_id_fkey" FOREIGN KEY ("stripe_payment_id") REFERENCES "stripe_payments"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_reference_id_fkey" FOREIGN KEY ("reference_id") REFERENCES "transactions"("id") ON DELETE SET NULL ON UPDATE CASCADE;
