-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "assertionIssuer" TEXT,
ADD COLUMN     "assertionJwks" TEXT,
ADD COLUMN     "assertionJwksUri" TEXT;

-- CreateTable
CREATE TABLE "AssertionJti" (
    "id" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AssertionJti_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AssertionJti_expiresAt_idx" ON "AssertionJti"("expiresAt");
