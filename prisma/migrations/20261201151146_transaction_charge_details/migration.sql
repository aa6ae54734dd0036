-- AlterTable
ALTER TABLE "transactions" ADD COLUMN     "avs_code" TEXT,
ADD COLUMN     "avs_message" TEXT,
ADD COLUMN     "cvv_code" TEXT,
ADD COLUMN     "cvv_message" TEXT,
ADD COLUMN     "fraud_review" TEXT,
ADD COLUMN     "payment_method_type" TEXT;
