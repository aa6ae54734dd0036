-- AlterTable
ALTER TABLE "stripe_payments" ADD COLUMN     "intent_missing_at" TIMESTAMP(3);
