-- AlterTable
ALTER TABLE "stripe_payments" ADD COLUMN     "on_behalf_of" TEXT,
ADD COLUMN     "transfer_group" TEXT;
