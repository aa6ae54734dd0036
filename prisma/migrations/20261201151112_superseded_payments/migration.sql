-- AlterTable
ALTER TABLE "stripe_payments" ADD COLUMN     "released_at" TIMESTAMP(3),
ADD COLUMN     "superseded_at" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "stripe_payments_superseded_at_released_at_idx" ON "stripe_payments"("superseded_at", "released_at");
