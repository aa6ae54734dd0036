-- DropForeignKey
ALTER TABLE "orders" DROP CONSTRAINT "orders_payment_method_id_fkey";

-- DropForeignKey
ALTER TABLE "orders" DROP CONSTRAINT "orders_customer_id_fkey";

-- AlterTable
ALTER TABLE "orders" ADD COLUMN     "approved_at" TIMESTAMP(3),
ADD COLUMN     "archived_at" TIMESTAMP(3),
ADD COLUMN     "customer_type" TEXT,
ADD COLUMN     "fulfillment_status" TEXT NOT NULL DEFAULT 'unfulfilled',
ADD COLUMN     "fulfillment_updated_at" TIMESTAMP(3),
ADD COLUMN     "guest" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "refreshed_at" TIMESTAMP(3);

-- AddForeignKey
ALTER TABLE "orders" ADD CONSTRAINT "orders_payment_method_id_fkey" FOREIGN KEY ("payment_method_id") REFERENCES "payment_methods"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "orders" ADD CONSTRAINT "orders_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Orders made before the column: a guest order is one without a customer.
UPDATE "orders" SET "guest" = ("customer_id" IS NULL);
