-- CreateTable
CREATE TABLE "job_runs" (
    "job" TEXT NOT NULL,
    "slot_start" TIMESTAMP(3) NOT NULL,
    "instance" TEXT NOT NULL,
    "started_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_runs_pkey" PRIMARY KEY ("job","slot_start")
);

-- CreateIndex
CREATE INDEX "job_runs_started_at_idx" ON "job_runs"("started_at");
