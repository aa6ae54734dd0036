-- CreateTable
CREATE TABLE "versions" (
    "id" TEXT NOT NULL,
    "resource_type" TEXT NOT NULL,
    "resource_id" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "changes" JSONB NOT NULL DEFAULT '{}',
    "who" JSONB NOT NULL DEFAULT '{}',
    "reference" TEXT,
    "reference_origin" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "versions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "versions_resource_id_created_at_idx" ON "versions"("resource_id", "created_at");

-- CreateIndex
CREATE INDEX "versions_resource_type_created_at_idx" ON "versions"("resource_type", "created_at");

-- CreateIndex
CREATE INDEX "versions_created_at_idx" ON "versions"("created_at");
