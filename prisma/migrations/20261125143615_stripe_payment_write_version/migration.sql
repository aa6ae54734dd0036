-- AlterTable
ALTER TABLE "stripe_payments" ADD COLUMN     "stripe_write_version" INTEGER NOT NULL DEFAULT 0;
