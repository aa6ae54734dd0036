-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "applications" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "secret_hash" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "applications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "orders" (
    "id" TEXT NOT NULL,
    "number" SERIAL NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'draft',
    "payment_status" TEXT NOT NULL DEFAULT 'unpaid',
    "currency_code" TEXT,
    "customer_email" TEXT,
    "language_code" TEXT NOT NULL DEFAULT 'en',
    "subtotal_amount_cents" INTEGER NOT NULL DEFAULT 0,
    "payment_method_amount_cents" INTEGER NOT NULL DEFAULT 0,
    "total_amount_cents" INTEGER NOT NULL DEFAULT 0,
    "reference" TEXT,
    "reference_origin" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "payment_method_id" TEXT,
    "payment_source_type" TEXT,
    "payment_source_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "orders_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "line_items" (
    "id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "sku_code" TEXT,
    "name" TEXT,
    "quantity" INTEGER NOT NULL,
    "unit_amount_cents" INTEGER NOT NULL,
    "total_amount_cents" INTEGER NOT NULL,
    "reference" TEXT,
    "reference_origin" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "line_items_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stripe_gateways" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "login_encrypted" TEXT NOT NULL,
    "mode" TEXT NOT NULL DEFAULT 'test',
    "publishable_key" TEXT,
    "connected_account" TEXT,
    "auto_payments" BOOLEAN NOT NULL DEFAULT false,
    "force_payments" BOOLEAN NOT NULL DEFAULT true,
    "disabled_at" TIMESTAMP(3),
    "reference" TEXT,
    "reference_origin" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "stripe_gateways_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "payment_methods" (
    "id" TEXT NOT NULL,
    "name" TEXT,
    "payment_source_type" TEXT NOT NULL,
    "currency_code" TEXT NOT NULL,
    "price_amount_cents" INTEGER NOT NULL DEFAULT 0,
    "moto" BOOLEAN NOT NULL DEFAULT false,
    "require_capture" BOOLEAN NOT NULL DEFAULT true,
    "auto_place" BOOLEAN NOT NULL DEFAULT false,
    "auto_capture" BOOLEAN NOT NULL DEFAULT false,
    "payment_gateway_id" TEXT,
    "disabled_at" TIMESTAMP(3),
    "reference" TEXT,
    "reference_origin" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "payment_methods_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stripe_payments" (
    "id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "payment_gateway_id" TEXT NOT NULL,
    "intent_state" TEXT NOT NULL DEFAULT 'reserved',
    "stripe_id" TEXT,
    "client_secret" TEXT,
    "amount_cents" INTEGER NOT NULL,
    "currency_code" TEXT NOT NULL,
    "status" TEXT,
    "charge_id" TEXT,
    "connected_account" TEXT,
    "publishable_key" TEXT,
    "options" JSONB NOT NULL DEFAULT '{}',
    "payment_method" JSONB,
    "payment_instrument" JSONB,
    "return_url" TEXT,
    "receipt_email" TEXT,
    "mode" TEXT NOT NULL DEFAULT 'test',
    "reference" TEXT,
    "reference_origin" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "stripe_payments_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "applications_client_id_key" ON "applications"("client_id");

-- CreateIndex
CREATE UNIQUE INDEX "orders_number_key" ON "orders"("number");

-- CreateIndex
CREATE INDEX "orders_payment_method_id_idx" ON "orders"("payment_method_id");

-- CreateIndex
CREATE INDEX "orders_created_at_idx" ON "orders"("created_at");

-- CreateIndex
CREATE INDEX "line_items_order_id_idx" ON "line_items"("order_id");

-- CreateIndex
CREATE INDEX "payment_methods_payment_gateway_id_idx" ON "payment_methods"("payment_gateway_id");

-- CreateIndex
CREATE UNIQUE INDEX "stripe_payments_stripe_id_key" ON "stripe_payments"("stripe_id");

-- CreateIndex
CREATE INDEX "stripe_payments_order_id_idx" ON "stripe_payments"("order_id");

-- CreateIndex
CREATE INDEX "stripe_payments_payment_gateway_id_idx" ON "stripe_payments"("payment_gateway_id");

-- CreateIndex
CREATE INDEX "stripe_payments_created_at_idx" ON "stripe_payments"("created_at");

-- AddForeignKey
ALTER TABLE "orders" ADD CONSTRAINT "orders_payment_method_id_fkey" FOREIGN KEY ("payment_method_id") REFERENCES "payment_methods"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "line_items" ADD CONSTRAINT "line_items_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment_methods" ADD CONSTRAINT "payment_methods_payment_gateway_id_fkey" FOREIGN KEY ("payment_gateway_id") REFERENCES "stripe_gateways"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stripe_payments" ADD CONSTRAINT "stripe_payments_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stripe_payments" ADD CONSTRAINT "stripe_payments_payment_gateway_id_fkey" FOREIGN KEY ("payment_gateway_id") REFERENCES "stripe_gateways"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
